// Templates: escaping per target, missing fields, safe lookups, and the fallback that keeps a
// notification alive when a template fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, TemplateError } from '../src/rules/template.js';
import { DEFAULT_EVENT_FIELDS as FIELDS } from '../src/config/defaults.js';
import { renderMessage } from '../src/delivery/compose.js';
import { escapeText } from '../src/event/escape.js';
import { defaultSummary } from '../src/event/summary.js';
import type { CompiledRule, EventObject, Template } from '../src/config/types.js';

const EVENT: EventObject = {
  type: 'run.failed',
  data: {
    workflowId: 'wf_payroll',
    workflowName: 'Pay <roll> & "co"',
    runId: 'run_1',
    amount: 1250.5,
    ok: false,
    error: { message: "Line 1\nit's <b>bad</b>" },
    nodes: [{ name: 'fetch' }, { name: 'pay' }],
  },
};

test('escaping per target', () => {
  const t = compileTemplate('{{data.workflowName}}');
  assert.equal(t.render(EVENT, 'slack'), 'Pay &lt;roll&gt; &amp; "co"');
  assert.equal(t.render(EVENT, 'html'), 'Pay &lt;roll&gt; &amp; &quot;co&quot;');
  assert.equal(t.render(EVENT, 'json'), 'Pay <roll> & \\"co\\"');
  assert.equal(t.render(EVENT, 'none'), 'Pay <roll> & "co"');
});

test('json escaping keeps a body template valid JSON, whatever the value holds', () => {
  const t = compileTemplate('{"name": "{{data.workflowName}}", "error": "{{data.error.message}}", "nodes": "{{data.nodes}}"}');
  const parsed = JSON.parse(t.render(EVENT, 'json')) as Record<string, string>;
  assert.equal(parsed.name, 'Pay <roll> & "co"');
  assert.equal(parsed.error, "Line 1\nit's <b>bad</b>");
  assert.equal(parsed.nodes, '[{"name":"fetch"},{"name":"pay"}]');
  assert.equal(escapeText('\u2028', 'json'), '\\u2028');
});

test('html escaping covers quotes, for attribute contexts', () => {
  assert.equal(escapeText(`<a href="x" title='y'>&</a>`, 'html'), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('numbers, booleans and objects render as text', () => {
  const t = compileTemplate('{{data.amount}} {{data.ok}} {{data.error}}');
  assert.equal(t.render(EVENT, 'none'), `1250.5 false {"message":"Line 1\\nit's <b>bad</b>"}`);
});

test('a missing field renders empty', () => {
  assert.equal(compileTemplate('[{{data.nope}}][{{nope.deeper.still}}]').render(EVENT, 'slack'), '[][]');
});

test('sections iterate lists and test presence', () => {
  const t = compileTemplate('{{#data.nodes}}{{name}};{{/data.nodes}}{{#data.error}}has error{{/data.error}}{{^data.nope}} no nope{{/data.nope}}');
  assert.equal(t.render(EVENT, 'none'), 'fetch;pay;has error no nope');
});

test('lookups never reach prototypes or call functions', () => {
  const payload = JSON.parse('{"__proto__": {"x": "leak"}, "data": {"s": "abc"}}') as EventObject;
  const t = compileTemplate('[{{constructor}}][{{constructor.name}}][{{__proto__.x}}][{{data.s.length}}][{{toString}}][{{data.hasOwnProperty}}]');
  assert.equal(t.render(payload, 'none'), '[][][][][][]');
  assert.equal(compileTemplate('{{#constructor}}x{{/constructor}}').render({}, 'none'), '');
});

test('triple braces, & and partials are refused when compiled', () => {
  assert.throws(
    () => compileTemplate('{{{data.x}}}'),
    (e: unknown) => e instanceof TemplateError && /would skip escaping/.test(e.message),
  );
  assert.throws(() => compileTemplate('{{& data.x}}'), /would skip escaping/);
  assert.throws(() => compileTemplate('{{> other}}'), /includes another template/);
  assert.throws(() => compileTemplate('{{=<% %>=}}'), /delimiters/);
  assert.throws(() => compileTemplate('{{#a}}{{{b}}}{{/a}}'), /would skip escaping/);
});

test('unparsable templates throw a clear TemplateError', () => {
  assert.throws(() => compileTemplate('{{data.x'), /is not closed with "\}\}"/);
  assert.throws(() => compileTemplate('{{#a}}text'), /section \{\{#a\}\} is never closed/);
  assert.throws(() => compileTemplate('text{{/a}}'), /never opened/);
});

test('defaultSummary: type, workflow, run, status and error, escaped', () => {
  const s = defaultSummary({ ...EVENT, data: { ...(EVENT.data as object), status: 'failed' } }, 'run.failed', 'payroll-failed', 'slack', FIELDS);
  assert.equal(
    s,
    'B3OS run.failed: workflow Pay &lt;roll&gt; &amp; "co" (wf_payroll), run run_1, status failed, error: Line 1 it\'s &lt;b&gt;bad&lt;/b&gt; (rule payroll-failed)',
  );
  assert.equal(defaultSummary({}, null, 'r', 'none', FIELDS), 'B3OS event (rule r)');
  const node = defaultSummary({ type: 'execution.failed', data: { workflowId: 'wf', nodeName: 'Send', runId: 'r9' } }, 'execution.failed', 'x', 'none', FIELDS);
  assert.equal(node, 'B3OS execution.failed: workflow wf, node Send, run r9 (rule x)');
});

function ruleWith(message: Template | null): CompiledRule {
  return {
    name: 'r',
    description: '',
    index: 0,
    line: 1,
    enabled: true,
    stop: false,
    sendTo: [],
    message,
    types: null,
    test: () => ({ matched: true, reason: '' }),
    matchedReason: () => '',
    examples: [],
  };
}

test('renderMessage uses the rule message', () => {
  const errors: Error[] = [];
  const text = renderMessage(ruleWith(compileTemplate('{{data.runId}} failed')), EVENT, 'run.failed', 'slack', FIELDS, (e) => errors.push(e));
  assert.equal(text, 'run_1 failed');
  assert.deepEqual(errors, []);
});

test('renderMessage falls back to the default summary when the template fails, and reports it', () => {
  const broken: Template = {
    source: '{{x}}',
    render() {
      throw new Error('boom');
    },
  };
  const errors: Error[] = [];
  const text = renderMessage(ruleWith(broken), EVENT, 'run.failed', 'slack', FIELDS, (e) => errors.push(e));
  assert.equal(text, defaultSummary(EVENT, 'run.failed', 'r', 'slack', FIELDS));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.message, 'boom');
});

test('renderMessage without a message, or without a rule, gives the default summary', () => {
  const never = (): void => assert.fail('no error expected');
  assert.equal(renderMessage(ruleWith(null), EVENT, 'run.failed', 'none', FIELDS, never), defaultSummary(EVENT, 'run.failed', 'r', 'none', FIELDS));
  assert.match(renderMessage(null, EVENT, 'run.failed', 'none', FIELDS, never), /^B3OS run\.failed: /);
});
