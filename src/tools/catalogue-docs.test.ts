import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOGUE } from '../catalogue/catalogue';
import { catalogueTable, topicsConfLines } from './catalogue-docs';
import { between, columns, tableCells } from './generated';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

test("docs/catalogue.md's table is the one generated from the catalogue (npm run config:docs)", () => {
  const table = between(
    read('docs/catalogue.md'),
    '<!-- catalogue-table:start -->',
    '<!-- catalogue-table:end -->',
  );
  expect(table).toBeDefined();
  const cells = tableCells(table ?? '');
  expect(cells).toEqual(tableCells(catalogueTable('c2c.after-send-msg')));
  expect(cells).toHaveLength(CATALOGUE.length + 2);
  // the row of the first command states its topic, key and schema
  const c2c = cells.find((r) => r[1]?.includes('`C2C.CallbackAfterSendMsg`'));
  expect(c2c?.slice(2, 6)).toEqual([
    'after',
    '`c2c.after-send-msg`',
    '`To_Account`, else `SdkAppid`',
    '[`c2c-after-send-msg.avsc`](../schemas/c2c-after-send-msg.avsc)',
  ]);
});

test("topics.conf's bridge lines are the ones generated from the catalogue (npm run config:docs)", () => {
  const lines = between(read('k8s/base/topics/topics.conf'), '# bridge:start', '# bridge:end');
  expect(lines).toBeDefined();
  const rows = columns(lines ?? '');
  expect(rows).toEqual(columns(topicsConfLines()));
  // every routed command's topic, the unknown commands' one and the dead letters
  expect(rows.map((r) => r[0])).toEqual(
    expect.arrayContaining([
      'c2c.after-send-msg',
      'group.after-send-msg',
      'tim.other-callbacks',
      'c2c.after-send-msg.dlq',
    ]),
  );
});

test('a routed-off command needs no topic; a renamed route needs its own', () => {
  const topics = (env: Record<string, string>) => columns(topicsConfLines(env)).map((r) => r[0]);
  expect(topics({ COMMAND_ROUTES: '*=off', KAFKA_OTHER_CALLBACKS_TOPIC: 'off' })).toEqual([
    'c2c.after-send-msg.dlq',
  ]);
  expect(
    topics({
      COMMAND_ROUTES: '*=off,OfficialAccount.*=official-accounts',
      KAFKA_OTHER_CALLBACKS_TOPIC: 'off',
    }),
  ).toEqual(['official-accounts', 'c2c.after-send-msg.dlq']);
});
