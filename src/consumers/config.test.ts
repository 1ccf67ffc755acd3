import { analyticsConsumer } from './analytics/main';
import { loadAnalyticsConfig, loadModerationConfig } from './config';
import { moderationConsumer } from './moderation/main';

/** The group-message input of the consumers: its defaults, switching it off, its checks. */

describe('group-message input configuration', () => {
  it('reads group.after-send-msg by default, in consumer groups of its own', () => {
    const a = loadAnalyticsConfig({});
    expect(a).toMatchObject({
      GROUP_KAFKA_TOPIC: 'group.after-send-msg',
      GROUP_CONSUMER_GROUP_ID: 'group-analytics',
      ANALYTICS_GROUP_TOPIC: 'group.analytics.minutely',
      ANALYTICS_GROUP_TRANSACTIONAL_ID: 'group-analytics',
    });
    const def = analyticsConsumer(a);
    expect(def.outputs.map((o) => o.topic)).toEqual([
      'c2c.analytics.minutely',
      'group.analytics.minutely',
    ]);
    expect(def.inputs?.map((i) => [i.name, i.topic, i.groupId, i.command])).toEqual([
      ['analytics-group', 'group.after-send-msg', 'group-analytics', 'Group.CallbackAfterSendMsg'],
    ]);
    expect(def.inputs?.[0]?.exactlyOnce).toEqual({
      transactionalId: 'group-analytics',
      stateTopic: 'c2c-analytics.state',
      commitIntervalMs: 1000,
      idleMs: 300_000,
    });

    const m = loadModerationConfig({});
    expect(m).toMatchObject({
      GROUP_KAFKA_TOPIC: 'group.after-send-msg',
      GROUP_CONSUMER_GROUP_ID: 'group-moderation',
      MODERATION_GROUP_VERDICTS_TOPIC: 'group.moderation.verdicts',
    });
    const mod = moderationConsumer(m);
    expect(mod.outputs.map((o) => o.topic)).toEqual([
      'c2c.moderation.verdicts',
      'group.moderation.verdicts',
    ]);
    expect(mod.inputs?.map((i) => [i.name, i.topic, i.groupId, i.exactlyOnce])).toEqual([
      ['moderation-group', 'group.after-send-msg', 'group-moderation', undefined],
    ]);
  });

  it('is off with an empty GROUP_KAFKA_TOPIC: no input, no group output', () => {
    const a = loadAnalyticsConfig({ GROUP_KAFKA_TOPIC: '' });
    expect(a.GROUP_KAFKA_TOPIC).toBeUndefined();
    expect(analyticsConsumer(a).inputs).toEqual([]);
    expect(analyticsConsumer(a).outputs.map((o) => o.topic)).toEqual(['c2c.analytics.minutely']);
    const m = loadModerationConfig({ GROUP_KAFKA_TOPIC: '' });
    expect(moderationConsumer(m).inputs).toEqual([]);
    expect(moderationConsumer(m).outputs.map((o) => o.topic)).toEqual(['c2c.moderation.verdicts']);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    [
      'the same input topic',
      { GROUP_KAFKA_TOPIC: 'c2c.after-send-msg' },
      /GROUP_KAFKA_TOPIC must differ from KAFKA_TOPIC/,
    ],
    [
      'the same consumer group',
      { GROUP_CONSUMER_GROUP_ID: 'c2c-analytics' },
      /GROUP_CONSUMER_GROUP_ID must differ/,
    ],
    [
      'the same output topic',
      { ANALYTICS_GROUP_TOPIC: 'c2c.analytics.minutely' },
      /ANALYTICS_GROUP_TOPIC must differ/,
    ],
    [
      'the same transactional id',
      { ANALYTICS_GROUP_TRANSACTIONAL_ID: 'c2c-analytics' },
      /ANALYTICS_GROUP_TRANSACTIONAL_ID must differ/,
    ],
    ['a bad topic name', { GROUP_KAFKA_TOPIC: 'no spaces' }, /GROUP_KAFKA_TOPIC/],
  ])('analytics refuses %s', (_name, env, message) => {
    expect(() => loadAnalyticsConfig(env)).toThrow(message);
  });

  it('moderation refuses group verdicts on the C2C verdicts topic, and checks nothing when off', () => {
    expect(() =>
      loadModerationConfig({ MODERATION_GROUP_VERDICTS_TOPIC: 'c2c.moderation.verdicts' }),
    ).toThrow(/MODERATION_GROUP_VERDICTS_TOPIC must differ from MODERATION_VERDICTS_TOPIC/);
    expect(() =>
      loadModerationConfig({
        GROUP_KAFKA_TOPIC: '',
        MODERATION_GROUP_VERDICTS_TOPIC: 'c2c.moderation.verdicts',
      }),
    ).not.toThrow();
  });
});

describe('analytics window configuration', () => {
  it('refuses at start a window length and lateness whose state would not fit, naming both', () => {
    expect(() =>
      loadAnalyticsConfig({
        ANALYTICS_WINDOW_SECONDS: '1',
        ANALYTICS_ALLOWED_LATENESS_SECONDS: '86400',
      }),
    ).toThrow(
      /ANALYTICS_ALLOWED_LATENESS_SECONDS=86400 with ANALYTICS_WINDOW_SECONDS=1 keeps up to 86402 windows open: up to 675 MiB .* more than 16 MiB/,
    );
    // a day of lateness in minute windows fits (1442 windows, about 11 MiB at most)
    expect(
      loadAnalyticsConfig({ ANALYTICS_ALLOWED_LATENESS_SECONDS: '86400' })
        .ANALYTICS_ALLOWED_LATENESS_SECONDS,
    ).toBe(86400);
  });

  it('reads the event-time tolerances, and refuses negative ones', () => {
    const c = loadAnalyticsConfig({
      ANALYTICS_MAX_EVENT_AHEAD_SECONDS: '60',
      ANALYTICS_MAX_EVENT_BEHIND_SECONDS: '600',
    });
    expect([c.ANALYTICS_MAX_EVENT_AHEAD_SECONDS, c.ANALYTICS_MAX_EVENT_BEHIND_SECONDS]).toEqual([
      60, 600,
    ]);
    expect(() => loadAnalyticsConfig({ ANALYTICS_MAX_EVENT_AHEAD_SECONDS: '-1' })).toThrow(
      /ANALYTICS_MAX_EVENT_AHEAD_SECONDS/,
    );
  });
});
