import { loadSchema } from '../schemas';
import { buildSchemaModel } from './schema-model';

/** The real callback schema and its model, for the unit tests of this folder. */
export const schema = loadSchema();
export const model = buildSchemaModel(schema);
