// The console's only assets, served by the router itself (no CDN, no other host): one small
// responsive stylesheet and a few lines of progressive JavaScript. Every page works without the
// script. Kept as modules so they ship inside dist/ with no build step of their own.
import { createHash } from 'node:crypto';

const CSS = `:root{--fg:#1d2430;--muted:#5b6574;--bg:#f6f7f9;--card:#fff;--line:#dde1e7;--accent:#2456c7;
--ok:#1f8a4c;--bad:#c0392b;--warn:#b7791f;--grey:#7b8494;--pending:#3b82c4;--unrouted:#b9c2cf;--routed:#4a5568}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;margin:.25rem 0;background:#f1f3f6;padding:.5rem;border-radius:4px}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.5rem 1rem;background:#1d2430;color:#fff}
.top a{color:#fff;text-decoration:none}
.brand{font-weight:600}.brand span{font-weight:400;opacity:.7}
.top nav ul{display:flex;flex-wrap:wrap;gap:.25rem .75rem;list-style:none;margin:0;padding:0}
.top nav a[aria-current=page]{text-decoration:underline;text-underline-offset:4px}
.signout{margin-left:auto}
.signout button{background:transparent;color:#fff;border:1px solid #fff6}
main{max-width:1100px;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:.25rem 0 .75rem}h3{font-size:1rem;margin:.25rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1rem;margin:0 0 1rem}
.narrow{max-width:420px;margin:2rem auto}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:1rem}
.stat{display:block;text-decoration:none;color:var(--fg)}.stat strong{display:block;font-size:2rem}
.stat.bad strong{color:var(--bad)}.stat.warn strong{color:var(--warn)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}
figure.chart{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1rem}
figure.chart svg{width:100%;height:auto;display:block}
figcaption{font-weight:600;margin-bottom:.5rem}
.grid{stroke:var(--line);stroke-width:1}.axis{font-size:10px;fill:var(--muted)}
rect.delivered,.swatch.delivered{fill:var(--ok);background:var(--ok)}
rect.dead,.swatch.dead{fill:var(--bad);background:var(--bad)}
rect.blocked,.swatch.blocked{fill:var(--grey);background:var(--grey)}
rect.pending,.swatch.pending{fill:var(--pending);background:var(--pending)}
rect.routed,.swatch.routed{fill:var(--routed);background:var(--routed)}
rect.unrouted,.swatch.unrouted{fill:var(--unrouted);background:var(--unrouted)}
.swatch{display:inline-block;width:.75em;height:.75em;border-radius:2px;margin-right:.3em;vertical-align:baseline}
table.totals{margin-top:.5rem;border-collapse:collapse;font-size:13px}
.totals th,.totals td{padding:.1rem .6rem .1rem 0;text-align:left;font-weight:400}.totals td{font-weight:600}
.legend,.hint{color:var(--muted);font-size:13px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
.facts dt{color:var(--muted)}.facts dd{margin:0;word-break:break-word}
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin-bottom:1rem}
.filters label{display:flex;flex-direction:column;font-size:13px;color:var(--muted)}
input,select,textarea,button{font:inherit;padding:.4rem .5rem;border:1px solid var(--line);border-radius:4px;background:#fff;color:var(--fg)}
textarea{width:100%;font:13px/1.45 ui-monospace,Menlo,Consolas,monospace}
button{background:var(--accent);color:#fff;border-color:var(--accent);cursor:pointer}
button.retry{background:#fff;color:var(--accent)}
.stack{display:flex;flex-direction:column;gap:.5rem;margin-bottom:1rem}
.stack button{align-self:flex-start}
form.inline{display:inline}
table.list{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:6px;margin-bottom:1rem}
.list th,.list td{padding:.45rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.list th{font-size:13px;color:var(--muted);font-weight:600}
.list td.reason,.list td.workflow{word-break:break-word}
.pill{display:inline-block;font-size:12px;padding:0 .45rem;border-radius:999px;background:#eef1f5;color:var(--fg);white-space:nowrap}
.pill.delivered,.pill.matched{background:#e3f4ea;color:var(--ok)}
.pill.dead,.pill.bad{background:#fbe7e4;color:var(--bad)}
.pill.failed,.pill.pending{background:#e6f0fa;color:var(--pending)}
.pill.blocked{background:#eceef1;color:var(--grey)}
.pill.silenced,.pill.ended{background:#f4efe3;color:var(--grey)}
ul.conditions{margin:0;padding-left:1rem}
.notice{padding:.5rem .75rem;border-radius:4px;background:#e6f0fa}.notice.bad{background:#fbe7e4;color:var(--bad)}
.empty{color:var(--muted)}
.field .k{font-size:12px;color:var(--muted)}
.sentence{font-size:1.05rem}
.rule.off{opacity:.7}
.summary.bad{color:var(--bad);font-weight:600}.summary.ok{color:var(--ok);font-weight:600}
.problems li.error{color:var(--bad)}.problems li.warning{color:var(--warn)}
ol.source{list-style:none;margin:0;padding:0;border:1px solid var(--line);border-radius:4px;overflow-x:auto;background:#fbfcfd}
ol.source li{display:grid;grid-template-columns:3.5em 1fr;padding:0 .5rem 0 0}
ol.source li .n{color:var(--muted);text-align:right;padding-right:.75em;user-select:none}
ol.source li code{white-space:pre-wrap;word-break:break-word}
ol.source li.error{background:#fbe7e4}ol.source li.warning{background:#fdf3e1}
ol.source .note{grid-column:2;font-size:13px;padding:.1rem 0 .3rem}
ol.source .note.error{color:var(--bad)}ol.source .note.warning{color:var(--warn)}
.pager{display:flex;gap:1rem}
@media (max-width:640px){
  main{padding:.5rem}
  .list thead{display:none}
  .list tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
  .list td{display:grid;grid-template-columns:7.5em 1fr;border:0;padding:.15rem .6rem}
  .list td::before{content:attr(data-label);color:var(--muted);font-size:13px}
  .facts{grid-template-columns:1fr}.facts dd{margin-bottom:.35rem}
  .signout{margin-left:0}
}
`;

// Filters apply as soon as a list is changed; without the script, the Show button does it.
const JS = `'use strict';
document.addEventListener('change', function (e) {
  var el = e.target;
  if (el && el.matches && el.matches('select[data-autosubmit]') && el.form) el.form.submit();
});
document.addEventListener('submit', function (e) {
  var b = e.target && e.target.querySelector && e.target.querySelector('button[type=submit]');
  if (b) setTimeout(function () { b.disabled = true; }, 0);
});
`;

export interface Asset {
  body: string;
  type: string;
  etag: string;
}

const asset = (body: string, type: string): Asset => ({ body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });

export const ASSETS: Record<string, Asset> = {
  'console.css': asset(CSS, 'text/css; charset=utf-8'),
  'console.js': asset(JS, 'text/javascript; charset=utf-8'),
};
