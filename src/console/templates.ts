// The console's mustache templates. Rules for editing them: only `{{ }}` (escaped) — never
// `{{{ }}}` or `{{& }}`; every value a view gives is set explicitly (mustache looks a missing name
// up in the enclosing sections, which could pick up an unrelated value); no inline script or
// style (the Content-Security-Policy forbids both): behaviour goes in assets.ts.

export const LAYOUT = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{{layout.title}} · b3os-router console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/console">b3os-router <span>console</span></a>
  {{#layout.signedIn}}
  <nav aria-label="Console">
    <ul>
      {{#layout.nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>{{/layout.nav}}
    </ul>
  </nav>
  <form method="post" action="/console/sign-out" class="signout">
    <input type="hidden" name="_csrf" value="{{layout.csrf}}">
    <button type="submit">Sign out</button>
  </form>
  {{/layout.signedIn}}
</header>
<main>
{{#layout.notice}}<p class="notice{{#bad}} bad{{/bad}}" role="status">{{text}}</p>{{/layout.notice}}
{{> body}}
</main>
</body>
</html>
`;

const SIGN_IN = `<section class="card narrow">
  <h1>Sign in</h1>
  <p>Enter the router's admin token (the <code>ADMIN_TOKEN</code> it was started with).</p>
  {{#error}}<p class="notice bad" role="alert" id="sign-in-error">{{error}}</p>{{/error}}
  <form method="post" action="/console/sign-in" autocomplete="off">
    <input type="hidden" name="next" value="{{next}}">
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" required autocomplete="current-password" autofocus>
    <button type="submit">Sign in</button>
  </form>
</section>
`;

const CHART = `<figure class="chart">
  <figcaption>{{title}}</figcaption>
  <svg viewBox="0 0 {{svg.width}} {{svg.height}}" role="img" aria-label="{{title}}">
    {{#svg.grid}}<line class="grid" x1="{{x1}}" y1="{{y}}" x2="{{x2}}" y2="{{y}}"></line><text class="axis" x="{{x1}}" y="{{ty}}">{{label}}</text>{{/svg.grid}}
    {{#svg.bars}}<rect class="{{cls}}" x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{label}}</title></rect>{{/svg.bars}}
    {{#svg.ticks}}<text class="axis" x="{{x}}" y="{{y}}">{{text}}</text>{{/svg.ticks}}
  </svg>
  <table class="totals">
    <tr>{{#totals}}<th scope="col"><span class="swatch {{cls}}"></span>{{label}}</th>{{/totals}}</tr>
    <tr>{{#totals}}<td>{{n}}</td>{{/totals}}</tr>
  </table>
</figure>
`;

const OVERVIEW = `<h1>Overview</h1>
<section class="cards">
  <a class="card stat{{#dead.any}} bad{{/dead.any}}" href="{{dead.href}}" id="dead-count"><strong>{{dead.n}}</strong> dead deliveries</a>
  <a class="card stat{{#blocked.any}} warn{{/blocked.any}}" href="{{blocked.href}}" id="blocked-count"><strong>{{blocked.n}}</strong> blocked deliveries</a>
  <div class="card stat"><strong>{{rulesCount}}</strong> rules in force</div>
</section>
<section class="charts">
  {{#charts}}{{> chart}}{{/charts}}
</section>
<p class="legend">Events: <span class="swatch routed"></span>led to a delivery, <span class="swatch unrouted"></span>no delivery.
Deliveries, by their status now, when they last changed: <span class="swatch delivered"></span>delivered,
<span class="swatch pending"></span>pending or retrying, <span class="swatch dead"></span>dead, <span class="swatch blocked"></span>blocked by policy.</p>
<section class="card">
  <h2>Rules in force</h2>
  <dl class="facts">
    <dt>File</dt><dd><code>{{rules.file}}</code></dd>
    <dt>Version (sha256)</dt><dd><code title="{{rules.hash}}">{{rules.shortHash}}</code></dd>
    <dt>Loaded</dt><dd>{{rules.loadedAt}}</dd>
    <dt>Last reload</dt><dd>{{rules.lastReload}}</dd>
    <dt>Rules</dt><dd><a href="/console/rules">{{rulesCount}} rules, {{destinationsCount}} destinations</a></dd>
  </dl>
  <p class="hint">Rules change by editing the file on the server and sending the router SIGHUP; <a href="/console/check">try a rules file</a> first.</p>
</section>
<section class="card" id="received-types">
  <h2>Types received in the last day</h2>
  {{#types.length}}
  <table class="list">
    <thead><tr><th>Type</th><th>Events</th><th>Last received</th></tr></thead>
    <tbody>{{#types}}<tr><td><a href="{{href}}"><code>{{type}}</code></a></td><td>{{count}}</td><td>{{last}}</td></tr>{{/types}}</tbody>
  </table>
  {{/types.length}}
  {{^types.length}}<p>No events in the last day. Is B3OS sending to this router? <code>b3os-router subscription</code> prints what to register.</p>{{/types.length}}
  {{#unseen.length}}<h3>Rules whose types did not arrive</h3><ul class="notes">{{#unseen}}<li>{{.}}</li>{{/unseen}}</ul>{{/unseen.length}}
</section>
<section class="card">
  <h2>Servers</h2>
  <p id="servers">{{servers}}</p>
  {{#replicas.length}}
  <table class="list" id="replicas">
    <thead><tr><th>Host</th><th>Process</th><th>Version</th><th>Rules</th><th>Last seen</th></tr></thead>
    <tbody>{{#replicas}}<tr><td>{{host}}</td><td>{{pid}}</td><td>{{version}}</td><td><code title="{{rulesHash}}">{{shortHash}}</code>{{#differs}} <strong class="warn">differs from the rules in force here</strong>{{/differs}}</td><td>{{lastSeen}}</td></tr>{{/replicas}}</tbody>
  </table>
  {{/replicas.length}}
</section>
`;

const EVENTS = `<h1>Events</h1>
<form method="get" action="/console/events" class="filters">
  <label>Type <input name="type" value="{{filters.type}}" list="known-types" placeholder="any type"></label>
  <datalist id="known-types">{{#knownTypes}}<option value="{{.}}"></option>{{/knownTypes}}</datalist>
  <label>Received
    <select name="since" data-autosubmit>
      {{#filters.sinceOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/filters.sinceOptions}}
    </select>
  </label>
  <button type="submit">Show</button>
  {{#filters.active}}<a href="/console/events">clear filters</a>{{/filters.active}}
</form>
{{#rows.length}}
<table class="list" id="events">
  <thead><tr><th>Received</th><th>Type</th><th>Workflow</th><th>Event</th><th>Outcome</th></tr></thead>
  <tbody>
  {{#rows}}
  <tr>
    <td data-label="Received"><time datetime="{{iso}}">{{time}}</time></td>
    <td data-label="Type"><code>{{type}}</code></td>
    <td data-label="Workflow" class="workflow">{{workflow}}</td>
    <td data-label="Event"><a href="{{href}}">{{id}}</a></td>
    <td data-label="Outcome">{{#outcome}}<span class="pill {{cls}}">{{text}}</span> {{/outcome}}</td>
  </tr>
  {{/rows}}
  </tbody>
</table>
{{/rows.length}}
{{^rows.length}}<p class="empty">No events {{#filters.active}}match these filters{{/filters.active}}{{^filters.active}}yet{{/filters.active}}.</p>{{/rows.length}}
<nav class="pager">{{#newest}}<a href="{{newest}}">Newest</a>{{/newest}} {{#older}}<a href="{{older}}" rel="next">Older events</a>{{/older}}</nav>
`;

const DELIVERY = `<article class="card delivery" id="delivery-{{id}}">
  <h3><span class="pill {{status}}">{{status}}</span> {{rule}} → {{destination}}{{#privileged}} <span class="pill blocked">privileged</span>{{/privileged}}</h3>
  <p>{{summary}}</p>
  {{#silence}}<p><a class="silence-link" href="{{silence.href}}">See silence {{silence.id}}</a></p>{{/silence}}
  {{#attempts.length}}
  <table class="list attempts">
    <thead><tr><th>#</th><th>Started</th><th>Outcome</th><th>Detail</th><th>Took</th></tr></thead>
    <tbody>{{#attempts}}<tr><td data-label="#">{{n}}</td><td data-label="Started">{{at}}</td><td data-label="Outcome">{{outcome}}</td><td data-label="Detail">{{detail}}</td><td data-label="Took">{{ms}} ms</td></tr>{{/attempts}}</tbody>
  </table>
  {{/attempts.length}}
  {{#sent}}
  <details class="sent" open>
    <summary>{{sent.title}}</summary>
    {{#sent.fields}}<div class="field"><span class="k">{{k}}</span><pre>{{v}}</pre></div>{{/sent.fields}}
    {{#sent.notes}}<p class="hint">{{.}}</p>{{/sent.notes}}
  </details>
  {{/sent}}
  {{#retry}}
  <form method="post" action="/console/deliveries/{{id}}/retry" class="inline">
    <input type="hidden" name="_csrf" value="{{layout.csrf}}">
    <input type="hidden" name="back" value="{{back}}">
    <button type="submit" class="retry">Retry</button>
  </form>
  {{/retry}}
</article>
`;

const EVENT = `<h1>Event <code>{{id}}</code></h1>
<section class="card story" id="explain">
  <h2>What happened</h2>
  <ul>{{#sentences}}<li>{{.}}</li>{{/sentences}}</ul>
</section>
<section class="card">
  <h2>Rules</h2>
  {{#rulesChanged}}<p class="notice">The rules file has changed since this event arrived; these are the outcomes decided when it arrived.</p>{{/rulesChanged}}
  <table class="list" id="rule-outcomes">
    <thead><tr><th>Rule</th><th>Outcome</th><th>Why</th></tr></thead>
    <tbody>{{#rules}}<tr class="{{cls}}"><td data-label="Rule">{{rule}}</td><td data-label="Outcome"><span class="pill {{cls}}">{{verdict}}</span></td><td data-label="Why">{{reason}}</td></tr>{{/rules}}</tbody>
  </table>
</section>
<section>
  <h2>Deliveries</h2>
  {{#deliveries}}{{> delivery}}{{/deliveries}}
  {{^deliveries}}<p class="empty">No delivery was made for this event.</p>{{/deliveries}}
</section>
<section class="card">
  <h2>The event as received</h2>
  <dl class="facts">{{#facts}}<dt>{{k}}</dt><dd>{{v}}</dd>{{/facts}}</dl>
  <pre class="payload">{{payload}}</pre>
  <p><a href="{{tryHref}}">Try this event against the rules in force</a></p>
</section>
`;

const NOT_FOUND = `<h1>{{heading}}</h1>
<p>{{message}}</p>
<p><a href="{{back}}">{{backLabel}}</a></p>
`;

const DELIVERIES = `<h1>Deliveries</h1>
<form method="get" action="/console/deliveries" class="filters">
  <label>Status
    <select name="status" data-autosubmit>
      {{#filters.statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/filters.statuses}}
    </select>
  </label>
  <label>Destination
    <select name="destination" data-autosubmit>
      {{#filters.destinations}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/filters.destinations}}
    </select>
  </label>
  <button type="submit">Show</button>
  {{#filters.active}}<a href="/console/deliveries">clear filters</a>{{/filters.active}}
</form>
{{#rows.length}}
<table class="list" id="deliveries">
  <thead><tr><th>Changed</th><th>Status</th><th>Rule → destination</th><th>Event</th><th>Attempts</th><th>Reason</th><th></th></tr></thead>
  <tbody>
  {{#rows}}
  <tr id="row-{{id}}">
    <td data-label="Changed">{{time}}</td>
    <td data-label="Status"><span class="pill {{status}}">{{status}}</span></td>
    <td data-label="Rule → destination">{{rule}} → {{destination}}</td>
    <td data-label="Event"><a href="{{eventHref}}">{{eventLabel}}</a></td>
    <td data-label="Attempts">{{attempts}}</td>
    <td data-label="Reason" class="reason">{{reason}}{{#silence}} <a class="silence-link" href="{{silence.href}}">see the silence</a>{{/silence}}</td>
    <td>{{#dead}}<form method="post" action="/console/deliveries/{{id}}/retry" class="inline">
      <input type="hidden" name="_csrf" value="{{layout.csrf}}">
      <input type="hidden" name="back" value="{{back}}">
      <button type="submit" class="retry">Retry</button></form>{{/dead}}</td>
  </tr>
  {{/rows}}
  </tbody>
</table>
<p class="hint">The newest {{limit}} are shown. Retry sends a dead delivery again; a privileged one goes through the policy first.</p>
{{/rows.length}}
{{^rows.length}}<p class="empty">No deliveries {{#filters.active}}match these filters{{/filters.active}}{{^filters.active}}yet{{/filters.active}}.</p>{{/rows.length}}
`;

const RULES = `<h1>Rules</h1>
<p class="hint">From <code>{{file}}</code> (version <code>{{shortHash}}</code>), in the order they are checked. "Matched" counts {{window}}.</p>
{{#rules}}
<article class="card rule{{^enabled}} off{{/enabled}}" id="rule-{{index}}">
  <h2>{{name}}{{^enabled}} <span class="pill blocked">disabled</span>{{/enabled}}</h2>
  {{#description}}<p class="description">{{description}}</p>{{/description}}
  <p class="sentence">{{#segments}}{{#code}}<code>{{text}}</code>{{/code}}{{^code}}{{text}}{{/code}}{{/segments}}</p>
  <dl class="facts">
    <dt>Matched in the last 24 hours</dt><dd class="matched">{{matched}}</dd>
    <dt>Examples</dt><dd class="examples">{{examples}}</dd>
    <dt>Line</dt><dd>{{line}}</dd>
  </dl>
</article>
{{/rules}}
{{^rules}}<p class="empty">The rules file has no rules.</p>{{/rules}}
`;

const REPORT = `<section class="card" id="report">
  <h2>Rules</h2>
  {{^report.accepted}}<p class="notice">server.accept_types does not include this type: the router would answer 204 and ignore it.</p>{{/report.accepted}}
  <dl class="facts">{{#report.facts}}<dt>{{k}}</dt><dd>{{v}}</dd>{{/report.facts}}</dl>
  <table class="list">
    <thead><tr><th>Rule</th><th>Outcome</th><th>Why</th></tr></thead>
    <tbody>{{#report.rules}}<tr class="{{cls}}"><td data-label="Rule">{{rule}}</td><td data-label="Outcome"><span class="pill {{cls}}">{{verdict}}</span></td><td data-label="Why">{{reason}}</td></tr>{{/report.rules}}</tbody>
  </table>
</section>
<section>
  <h2>What would be sent</h2>
  {{#report.deliveries}}
  <article class="card delivery">
    <h3><span class="pill {{cls}}">{{verdict}}</span> {{rule}} → {{destination}} ({{type}})</h3>
    <p>{{reason}}</p>
    {{#fields}}<div class="field"><span class="k">{{k}}</span><pre class="rendered">{{v}}</pre></div>{{/fields}}
    {{#notes}}<p class="hint">{{.}}</p>{{/notes}}
  </article>
  {{/report.deliveries}}
  {{^report.deliveries}}<p class="empty">Nothing would be sent.</p>{{/report.deliveries}}
  <p class="hint">A dry run: nothing was sent and nothing was written.</p>
</section>
`;

const TRY = `<h1>Try an event</h1>
<p>Paste an event, or give a stored event's id, to see what the rules in force would do with it. Nothing is sent.</p>
<form method="post" action="/console/try" class="stack">
  <input type="hidden" name="_csrf" value="{{layout.csrf}}">
  <label for="event-id">A stored event (id or key)</label>
  <input id="event-id" name="event" value="{{eventId}}" list="recent-events" placeholder="evt_…">
  <datalist id="recent-events">{{#recent}}<option value="{{value}}">{{label}}</option>{{/recent}}</datalist>
  <label for="event-json">…or the event's JSON</label>
  <textarea id="event-json" name="json" rows="12" spellcheck="false" placeholder='{"type": "run.failed", "data": {"workflowId": "wf_payroll"}}'>{{json}}</textarea>
  <button type="submit">Try it</button>
</form>
{{#error}}<p class="notice bad" role="alert" id="try-error">{{error}}</p>{{/error}}
{{#report}}{{> report}}{{/report}}
`;

const CHECK = `<h1>Try a rules file</h1>
<p>Paste a whole rules file to see what <code>check</code> says about it and what it would change over the last {{last}} events. Nothing changes: to apply rules, edit the file on the server and send the router SIGHUP.</p>
<form method="post" action="/console/check" class="stack">
  <input type="hidden" name="_csrf" value="{{layout.csrf}}">
  <label for="rules-yaml">Rules file (YAML)</label>
  <textarea id="rules-yaml" name="yaml" rows="16" spellcheck="false">{{yaml}}</textarea>
  <button type="submit">Check it</button>
</form>
{{#result}}
<section class="card" id="check-result">
  <h2>What check says</h2>
  <p class="summary {{result.cls}}" id="check-summary">{{result.summary}}</p>
  {{#result.withheld}}<p class="hint" id="withheld">Set in the router's environment, shown and checked here as written: {{result.withheld}}. The console never shows their values; check on the server validates them.</p>{{/result.withheld}}
  {{#result.problems.length}}<ul class="problems" id="problems">{{#result.problems}}<li class="{{severity}}"><a href="#line-{{line}}">line {{line}}, column {{col}}</a>: {{#warning}}warning: {{/warning}}{{message}}</li>{{/result.problems}}</ul>{{/result.problems.length}}
  <ol class="source" id="source">
    {{#result.lines}}<li id="line-{{n}}" class="{{cls}}"><span class="n">{{n}}</span><code>{{text}}</code>{{#notes}}<span class="note {{severity}}">{{message}}</span>{{/notes}}</li>{{/result.lines}}
  </ol>
</section>
{{#result.diff}}
<section class="card" id="diff">
  <h2>What it would change</h2>
  <p>Over the last {{result.diff.events}} stored events, compared with the rules in force:</p>
  <ul>{{#result.diff.sentences}}<li>{{.}}</li>{{/result.diff.sentences}}</ul>
  {{#result.diff.samples.length}}
  <h3>Some of the events that change</h3>
  <ul>{{#result.diff.samples}}<li><a href="{{href}}">{{event}}</a>: {{change}}</li>{{/result.diff.samples}}</ul>
  {{/result.diff.samples.length}}
</section>
{{/result.diff}}
{{/result}}
`;

const SILENCES = `<h1>Silences</h1>
<p>A silence stops notifications for a while without editing the rules file: while it is active, every delivery it matches is recorded as <span class="pill silenced">silenced</span> and not sent. The router honours a new silence within a second.</p>
<section class="card" id="silences-list">
  <h2>{{#all}}All silences{{/all}}{{^all}}Active silences{{/all}}</h2>
  <p><a id="silences-toggle" href="{{toggle.href}}">{{toggle.label}}</a></p>
  {{#rows.length}}
  <table class="list" id="silences">
    <thead><tr><th>Silence</th><th>Matches</th><th>Until</th><th>Comment</th><th>By</th><th></th></tr></thead>
    <tbody>
    {{#rows}}
    <tr id="silence-{{id}}" class="{{state}}">
      <td data-label="Silence"><code>{{id}}</code> <span class="pill {{cls}}">{{state}}</span></td>
      <td data-label="Matches"><ul class="conditions">{{#conditions}}<li>{{k}} <code>{{v}}</code></li>{{/conditions}}</ul></td>
      <td data-label="Until">{{until}}</td>
      <td data-label="Comment" class="reason">{{comment}}</td>
      <td data-label="By">{{by}}</td>
      <td>{{#active}}<form method="post" action="/console/silences/{{id}}/expire" class="inline">
        <input type="hidden" name="_csrf" value="{{layout.csrf}}">
        <input type="hidden" name="back" value="{{back}}">
        <button type="submit" class="expire">Expire</button></form>{{/active}}</td>
    </tr>
    {{/rows}}
    </tbody>
  </table>
  {{/rows.length}}
  {{^rows.length}}<p class="empty">{{#all}}No silences yet.{{/all}}{{^all}}No active silences.{{/all}}</p>{{/rows.length}}
</section>
<section class="card" id="add-silence">
  <h2>Add a silence</h2>
  <p class="hint">Give at least one condition (a rule, a destination or a field); every condition you give must hold. It is recorded as made by "console".</p>
  <form method="post" action="/console/silences" class="stack">
    <input type="hidden" name="_csrf" value="{{layout.csrf}}">
    <label for="silence-rule">Rule</label>
    <select id="silence-rule" name="rule">
      {{#form.rules}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/form.rules}}
    </select>
    <label for="silence-destination">Destination</label>
    <select id="silence-destination" name="destination">
      {{#form.destinations}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/form.destinations}}
    </select>
    <label for="silence-match">Fields, one FIELD=VALUE a line (* is a wildcard; the same field twice: any of its values)</label>
    <textarea id="silence-match" name="match" rows="3" spellcheck="false" placeholder="data.workflowId=wf_payroll">{{form.match}}</textarea>
    <label for="silence-for">For (a duration such as 30m, 2h or 1d)…</label>
    <input id="silence-for" name="for" value="{{form.for}}" placeholder="2h">
    <label for="silence-until">…or until (an ISO-8601 time such as 2025-06-01T18:00:00Z)</label>
    <input id="silence-until" name="until" value="{{form.until}}" placeholder="2025-06-01T18:00:00Z">
    <label for="silence-comment">Comment (why, for the people who read it later)</label>
    <input id="silence-comment" name="comment" value="{{form.comment}}" maxlength="1000">
    <button type="submit">Add the silence</button>
  </form>
</section>
`;

export const PAGES = {
  'sign-in': SIGN_IN,
  overview: OVERVIEW,
  events: EVENTS,
  event: EVENT,
  deliveries: DELIVERIES,
  rules: RULES,
  try: TRY,
  check: CHECK,
  silences: SILENCES,
  message: NOT_FOUND,
} as const;

export type PageName = keyof typeof PAGES;

export const PARTIALS = { chart: CHART, delivery: DELIVERY, report: REPORT } as const;
