import { loadSchema, type AvroSchemaJson } from '../../schemas';

/** The Avro schema of the published windows (`tim.analytics.MinuteWindow`), in `schemas/`. */
export const ANALYTICS_SCHEMA_FILE = 'c2c-analytics-minutely.avsc';

/** The Avro schema of the published group-message windows (`tim.analytics.GroupMinuteWindow`). */
export const GROUP_ANALYTICS_SCHEMA_FILE = 'group-analytics-minutely.avsc';

export function loadAnalyticsSchema(): AvroSchemaJson {
  return loadSchema(ANALYTICS_SCHEMA_FILE);
}

export function loadGroupAnalyticsSchema(): AvroSchemaJson {
  return loadSchema(GROUP_ANALYTICS_SCHEMA_FILE);
}
