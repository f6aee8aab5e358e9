// `{{path.to.field}}` templates for `message`, email `subject` and webhook `body`, rendered with
// mustache. Two things are ours:
//  - Lookups go through the safe path reader: own properties only, arrays by index, and
//    __proto__ / constructor / prototype resolve to nothing. Mustache's own lookup walks
//    prototypes and calls functions; ours never does either.
//  - Every value is escaped for where it goes (Slack mrkdwn, HTML, inside a JSON string, or not
//    at all). Triple braces `{{{x}}}` and `{{&x}}`, which would skip escaping, are refused when the
//    template is compiled, as are partials and delimiter changes.
// Rendering has a work budget linear in the event's size (RENDER_WORK), because a section inside a
// section over the same list (`{{#data.items}}{{#data.items}}…`) renders the square of its length.
// A missing field renders empty. A template that fails to render never drops a notification: the
// caller sends the default summary instead (delivery/compose.ts renderMessage).
import Mustache from 'mustache';
import { escapeText } from '../event/escape.js';
import type { EventObject, Json, Template, TemplateEscape } from '../event/model.js';
import { compilePath, readPath } from '../event/path.js';

export class TemplateError extends Error {
  readonly code = 'E_TEMPLATE';
}

// Each section item and each lookup costs one unit, each value written its length. The allowance,
// base + perChar × (the event's JSON length), is far above what a message or body over the event
// needs; past it the render fails, and the caller sends the default summary instead.
const RENDER_WORK = { base: 100_000, perChar: 8 };

interface Budget {
  remaining: number;
}

function charge(budget: Budget, units: number): void {
  budget.remaining -= units;
  if (budget.remaining < 0) {
    throw new TemplateError("the template renders more than this event's size allows (a section inside a section over the same list?)");
  }
}

/** A mustache context whose lookups cannot leave the event's own data. */
class EventContext extends Mustache.Context {
  constructor(
    view: unknown,
    parent: Mustache.Context | undefined,
    private readonly budget: Budget,
  ) {
    super(view, parent);
  }

  override push(view: unknown): Mustache.Context {
    charge(this.budget, 1);
    return new EventContext(view, this, this.budget);
  }

  override lookup(name: string): unknown {
    charge(this.budget, 1);
    if (name === '.') return this.view;
    const parts = compilePath(name);
    if (parts === null) return undefined;
    // Inside a section, a name is looked up in the current item first, then outwards.
    for (let ctx: Mustache.Context | undefined = this; ctx; ctx = ctx.parent) {
      const v = readPath(ctx.view as Json, parts);
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

// Our own writer, so its parse cache is not shared with anything else in the process.
const writer = new Mustache.Writer();

type Token = [string, string, number, number, ...unknown[]];

/** Parses and checks a template; throws TemplateError with a sentence a person can act on. */
export function compileTemplate(source: string): Template {
  let tokens: Token[];
  try {
    tokens = writer.parse(source) as Token[];
  } catch (err) {
    throw new TemplateError(explainParseError((err as Error).message));
  }
  checkTokens(tokens);
  return {
    source,
    render(event: EventObject, escape: TemplateEscape): string {
      const budget: Budget = { remaining: RENDER_WORK.base + RENDER_WORK.perChar * (JSON.stringify(event)?.length ?? 0) };
      return writer.render(source, new EventContext(event, undefined, budget), undefined, { escape: escaper(escape, budget) });
    },
  };
}

function checkTokens(tokens: Token[]): void {
  for (const t of tokens) {
    const [type, name] = t;
    if (type === '&') {
      throw new TemplateError(`{{{${name}}}} (or {{&${name}}}) would skip escaping; write {{${name}}}: every value is already escaped for where it goes`);
    }
    if (type === '>') throw new TemplateError(`{{>${name}}} includes another template, which rules files do not support`);
    if (type === '=') throw new TemplateError('changing the {{ }} delimiters is not supported');
    if ((type === '#' || type === '^') && Array.isArray(t[4])) checkTokens(t[4] as Token[]);
  }
}

function explainParseError(message: string): string {
  let m = /^Unclosed tag at (\d+)/.exec(message);
  if (m) return `a "{{" is not closed with "}}"`;
  m = /^Unclosed section "(.*)" at (\d+)/.exec(message);
  if (m) return `the section {{#${m[1]}}} is never closed; add {{/${m[1]}}} where it ends`;
  m = /^Unopened section "(.*)" at (\d+)/.exec(message);
  if (m) return `{{/${m[1]}}} closes a section that was never opened with {{#${m[1]}}}`;
  return `the template cannot be read: ${message}`;
}

/** A JSON value as text: strings as they are, anything else as JSON. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return '';
  return JSON.stringify(value) ?? '';
}

function escaper(escape: TemplateEscape, budget: Budget): (value: unknown) => string {
  return (value) => {
    const text = asText(value);
    charge(budget, text.length);
    return escapeText(text, escape);
  };
}
