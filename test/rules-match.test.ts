// How rules match: the `match` shorthand, `when` in JSON Logic, both together, the reasons given,
// and that neither a rule nor a payload can reach prototype objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMatch, type MatchSpec } from '../src/rules/match.js';
import { checkLogic, compileLogic } from '../src/rules/logic.js';
import { loadRulesText, formatProblem } from '../src/config/load.js';
import { eventType } from '../src/event/accessors.js';
import { DEFAULT_EVENT_FIELDS } from '../src/config/defaults.js';
import { routeEvent } from '../src/route/route.js';
import type { EventObject, Json } from '../src/config/types.js';

const typeOf = (e: EventObject) => eventType(e, DEFAULT_EVENT_FIELDS);

function matches(spec: MatchSpec, event: EventObject) {
  const { match, issues } = compileMatch(spec, typeOf);
  assert.deepEqual(
    issues.filter((i) => i.severity === 'error'),
    [],
  );
  return match.test(event);
}

interface Case {
  name: string;
  spec: MatchSpec;
  event: EventObject;
  matched: boolean;
  reason?: string | RegExp;
}

const CASES: Case[] = [
  { name: 'equals', spec: { type: 'run.failed' }, event: { type: 'run.failed' }, matched: true, reason: 'type is "run.failed"' },
  {
    name: 'not equal',
    spec: { type: 'run.failed' },
    event: { type: 'run.succeeded' },
    matched: false,
    reason: 'the event type is "run.succeeded", not "run.failed"',
  },
  { name: 'type read from event_type', spec: { type: 'run.failed' }, event: { event_type: 'run.failed' }, matched: true },
  { name: 'no type at all', spec: { type: 'run.failed' }, event: { data: {} }, matched: false, reason: 'the event has no type' },
  { name: 'list: any of (hit)', spec: { 'data.workflowId': ['wf_payroll', 'wf_payroll_eu'] }, event: { data: { workflowId: 'wf_payroll_eu' } }, matched: true },
  {
    name: 'list: any of (miss)',
    spec: { 'data.workflowId': ['wf_payroll', 'wf_payroll_eu'] },
    event: { data: { workflowId: 'wf_x' } },
    matched: false,
    reason: 'data.workflowId is "wf_x", not one of wf_payroll, wf_payroll_eu',
  },
  { name: 'wildcard suffix', spec: { type: 'run.*' }, event: { type: 'run.cancelled' }, matched: true },
  {
    name: 'wildcard miss',
    spec: { type: 'run.*' },
    event: { type: 'execution.failed' },
    matched: false,
    reason: 'the event type is "execution.failed", which does not match "run.*"',
  },
  { name: 'wildcard in the middle', spec: { 'data.workflowId': 'wf_*_eu' }, event: { data: { workflowId: 'wf_payroll_eu' } }, matched: true },
  { name: 'wildcard is anchored', spec: { 'data.workflowId': 'wf_*_eu' }, event: { data: { workflowId: 'wf_payroll_eu_2' } }, matched: false },
  { name: 'lone * needs the field', spec: { 'data.error': '*' }, event: { data: {} }, matched: false, reason: 'data.error is not in the event' },
  { name: 'lone * with the field', spec: { 'data.error': '*' }, event: { data: { error: 'boom' } }, matched: true },
  { name: 'regex characters are literal', spec: { 'data.name': 'a.c' }, event: { data: { name: 'abc' } }, matched: false },
  { name: 'list mixing literal and wildcard', spec: { type: ['run.failed', 'execution.*'] }, event: { type: 'execution.skipped' }, matched: true },
  { name: 'dotted path, deep', spec: { 'data.error.code': 'E42' }, event: { data: { error: { code: 'E42' } } }, matched: true },
  { name: 'array index in a path', spec: { 'data.nodes.1.id': 'n2' }, event: { data: { nodes: [{ id: 'n1' }, { id: 'n2' }] } }, matched: true },
  { name: 'array field: any element', spec: { 'data.tags': 'urgent' }, event: { data: { tags: ['low', 'urgent'] } }, matched: true },
  {
    name: 'array field: no element',
    spec: { 'data.tags': 'urgent' },
    event: { data: { tags: ['low'] } },
    matched: false,
    reason: /data\.tags is \["low"\], and none of its items is "urgent"/,
  },
  { name: 'number equals number', spec: { 'data.amount': 100 }, event: { data: { amount: 100 } }, matched: true },
  { name: 'number equals numeric text', spec: { 'data.amount': 100 }, event: { data: { amount: '100' } }, matched: true },
  { name: 'text equals number', spec: { 'data.code': '42' }, event: { data: { code: 42 } }, matched: true },
  { name: 'number differs', spec: { 'data.amount': 100 }, event: { data: { amount: 101 } }, matched: false, reason: 'data.amount is 101, not 100' },
  { name: 'empty text is not zero', spec: { 'data.amount': 0 }, event: { data: { amount: '' } }, matched: false },
  { name: 'boolean', spec: { 'data.retry': true }, event: { data: { retry: true } }, matched: true },
  { name: 'boolean is not text', spec: { 'data.retry': true }, event: { data: { retry: 'true' } }, matched: false },
  { name: 'null means absent', spec: { 'data.error': null }, event: { data: {} }, matched: true },
  { name: 'null means null', spec: { 'data.error': null }, event: { data: { error: null } }, matched: true },
  { name: 'null is not a value', spec: { 'data.error': null }, event: { data: { error: {} } }, matched: false },
  { name: 'missing field', spec: { 'data.workflowId': 'wf' }, event: {}, matched: false, reason: 'data.workflowId is not in the event' },
  { name: 'path through a scalar', spec: { 'data.name.length': 3 }, event: { data: { name: 'abc' } }, matched: false },
  {
    name: 'every key must hold',
    spec: { type: 'run.failed', 'data.workflowId': 'wf_payroll' },
    event: { type: 'run.failed', data: { workflowId: 'wf_other' } },
    matched: false,
    reason: 'data.workflowId is "wf_other", not "wf_payroll"',
  },
  {
    name: 'every key holds',
    spec: { type: 'run.failed', 'data.workflowId': 'wf_payroll' },
    event: { type: 'run.failed', data: { workflowId: 'wf_payroll' } },
    matched: true,
    reason: 'type is "run.failed" and data.workflowId is "wf_payroll"',
  },
];

for (const c of CASES) {
  test(`match: ${c.name}`, () => {
    const result = matches(c.spec, c.event);
    assert.equal(result.matched, c.matched, result.reason);
    if (typeof c.reason === 'string') assert.equal(result.reason, c.reason);
    else if (c.reason) assert.match(result.reason, c.reason);
  });
}

test('match: literal types feed the type index, wildcards do not', () => {
  assert.deepEqual(compileMatch({ type: ['run.failed', 'run.cancelled'] }, typeOf).match.types, ['run.failed', 'run.cancelled']);
  assert.equal(compileMatch({ type: ['run.failed', 'run.*'] }, typeOf).match.types, null);
  assert.equal(compileMatch({ 'data.workflowId': 'x' }, typeOf).match.types, null);
});

interface LogicCase {
  name: string;
  logic: Json;
  event: EventObject;
  value: boolean;
}

const EVENT: EventObject = { type: 'run.failed', data: { amount: 25000, currency: 'USD', tags: ['a', 'b'], workflowId: 'wf_payroll' } };

const LOGIC: LogicCase[] = [
  { name: '== true', logic: { '==': [{ var: 'type' }, 'run.failed'] }, event: EVENT, value: true },
  { name: '== false', logic: { '==': [{ var: 'type' }, 'run.succeeded'] }, event: EVENT, value: false },
  { name: '>', logic: { '>': [{ var: 'data.amount' }, 10000] }, event: EVENT, value: true },
  { name: '<', logic: { '<': [{ var: 'data.amount' }, 10000] }, event: EVENT, value: false },
  { name: 'and', logic: { and: [{ '==': [{ var: 'data.currency' }, 'USD'] }, { '>': [{ var: 'data.amount' }, 1] }] }, event: EVENT, value: true },
  { name: 'and, one false', logic: { and: [{ '==': [{ var: 'data.currency' }, 'EUR'] }, { '>': [{ var: 'data.amount' }, 1] }] }, event: EVENT, value: false },
  { name: 'or', logic: { or: [{ '==': [{ var: 'data.currency' }, 'EUR'] }, { '>': [{ var: 'data.amount' }, 1] }] }, event: EVENT, value: true },
  { name: 'in a list', logic: { in: [{ var: 'data.workflowId' }, ['wf_payroll', 'wf_billing']] }, event: EVENT, value: true },
  { name: 'in an array field', logic: { in: ['b', { var: 'data.tags' }] }, event: EVENT, value: true },
  { name: 'in text', logic: { in: ['fail', { var: 'type' }] }, event: EVENT, value: true },
  { name: 'missing field is null', logic: { '==': [{ var: 'data.nope' }, null] }, event: EVENT, value: true },
  { name: 'var default', logic: { '==': [{ var: ['data.nope', 7] }, 7] }, event: EVENT, value: true },
  { name: 'missing operator', logic: { missing: ['data.amount', 'data.nope'] }, event: EVENT, value: true },
  { name: 'boolean true', logic: true, event: EVENT, value: true },
  { name: 'boolean false', logic: false, event: EVENT, value: false },
];

for (const c of LOGIC) {
  test(`when: ${c.name}`, () => {
    assert.deepEqual(checkLogic(c.logic), []);
    assert.equal(compileLogic(c.logic)(c.event).value, c.value);
  });
}

test('when: an evaluation error counts as false and says why', () => {
  // A payload cannot make a condition throw its way to true.
  const out = compileLogic({ in: ['x', { var: 'data.obj' }] })({ data: { obj: { indexOf: 'not a function' } } });
  assert.equal(out.value, false);
  assert.match(out.error ?? '', /indexOf/);
});

const RULES = `version: 1
destinations:
  d: { type: webhook, url: "https://example.com/h" }
rules:
  - name: both
    match: { type: run.failed }
    when: { ">": [{ var: data.amount }, 10000] }
    send_to: [d]
  - name: when-only
    when: { "==": [{ var: data.currency }, USD] }
    send_to: [d]
  - name: nothing
    send_to: [d]
`;

function rules() {
  const { config, problems } = loadRulesText(RULES, '/tmp/rules.yaml', {});
  assert.ok(config, problems.map(formatProblem).join('\n'));
  return new Map(config.rules.map((r) => [r.name, r]));
}

test('match and when are ANDed, with a reason for each outcome', () => {
  const r = rules().get('both')!;
  assert.deepEqual(r.test({ type: 'run.failed', data: { amount: 20000 } }), {
    matched: true,
    reason: 'type is "run.failed", and the "when" condition is true',
  });
  assert.deepEqual(r.test({ type: 'run.failed', data: { amount: 5 } }), {
    matched: false,
    reason: 'type is "run.failed", but the "when" condition is false',
  });
  // When match fails, when is not even consulted.
  assert.deepEqual(r.test({ type: 'run.succeeded', data: { amount: 20000 } }), {
    matched: false,
    reason: 'the event type is "run.succeeded", not "run.failed"',
  });
  assert.deepEqual(r.types, ['run.failed']);
});

test('a when-only rule and a rule with no conditions', () => {
  const all = rules();
  assert.deepEqual(all.get('when-only')!.test({ data: { currency: 'EUR' } }), { matched: false, reason: 'the "when" condition is false' });
  assert.equal(all.get('when-only')!.types, null);
  assert.deepEqual(all.get('nothing')!.test({}), { matched: true, reason: 'the rule has no match or when, so it matches every event' });
});

// ---- prototype safety ----

test('a rule path through constructor never reaches Object', () => {
  // With json-logic-js's own `var`, {"var": "constructor.name"} is "Object" for every event.
  assert.equal(compileLogic({ '==': [{ var: 'constructor.name' }, 'Object'] })({}).value, false);
  assert.equal(compileLogic({ '!!': [{ var: 'constructor' }] })({}).value, false);
  assert.equal(compileLogic({ '!!': [{ var: 'data.toString' }] })({ data: {} }).value, false);
  assert.equal(compileLogic({ '!!': [{ var: '__proto__' }] })({}).value, false);
  const { match } = compileMatch({ 'constructor.name': 'Object' }, typeOf);
  assert.equal(match.test({}).matched, false);
  assert.equal(compileMatch({ 'data.hasOwnProperty': '*' }, typeOf).match.test({ data: {} }).matched, false);
});

test('a payload carrying __proto__ or constructor keys cannot change how a rule evaluates', () => {
  const payload = JSON.parse(
    '{"__proto__": {"type": "run.failed", "polluted": true}, "constructor": {"name": "Evil"},' +
      ' "data": {"__proto__": {"workflowId": "wf_payroll"}, "amount": 5}}',
  ) as EventObject;
  // Type and workflowId only exist behind __proto__: they must not count.
  assert.equal(matches({ type: 'run.failed' }, payload).matched, false);
  assert.equal(matches({ 'data.workflowId': 'wf_payroll' }, payload).matched, false);
  assert.equal(compileLogic({ '==': [{ var: 'data.workflowId' }, 'wf_payroll'] })(payload).value, false);
  assert.equal(compileLogic({ '==': [{ var: '__proto__.polluted' }, true] })(payload).value, false);
  assert.equal(compileLogic({ '==': [{ var: 'constructor.name' }, 'Evil'] })(payload).value, false);
  // Ordinary fields still work, and nothing leaked into Object.prototype.
  assert.equal(compileLogic({ '==': [{ var: 'data.amount' }, 5] })(payload).value, true);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);

  const { config } = loadRulesText(RULES, '/tmp/rules.yaml', {});
  const before = routeEvent(config!, { type: 'run.failed', data: { amount: 20000, currency: 'USD' } }, { now: 0, replay: false, type: 'run.failed' });
  const polluted = JSON.parse(
    '{"type": "run.failed", "data": {"amount": 20000, "currency": "USD", "__proto__": {"amount": 1}}, "__proto__": {"x": 1}}',
  ) as EventObject;
  const after = routeEvent(config!, polluted, { now: 0, replay: false, type: 'run.failed' });
  assert.deepEqual(after.decision.outcomes, before.decision.outcomes);
  assert.deepEqual(after.pairs, before.pairs);
});

test('checkLogic flags unknown operators and __proto__ paths', () => {
  const issues = checkLogic({ and: [{ equals: [1, 1] }, { var: 'data.__proto__.x' }, { 'Math.max': [1] }] });
  assert.deepEqual(
    issues.map((i) => [i.severity, i.at.join('/')]),
    [
      ['error', 'and/0/equals'],
      ['warning', 'and/1/var'],
      ['error', 'and/2/Math.max'],
    ],
  );
});
