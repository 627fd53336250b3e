/* index.html: one static page, no network. The report's data is embedded
 * as JSON in a <script type="application/json"> element and drawn by the
 * inline script: the probe's verdict on the MPS workaround when the run
 * used the torch backend; per suite, each case name's matrix as a grid
 * coloured by status; a click on a case shows its messages and trace; the
 * failing cases grouped by error and message pattern (report/groups.h);
 * a banner when the run was interrupted; the filters, the search box and
 * the --history chart of html_tools.c. */
#include "report/groups.h"
#include "report/html.h"
#include "report/policies.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past this many trace events in the report, only the traces of cases
 * that did not pass are embedded (the page must stay loadable). */
#define HTML_TRACE_BUDGET 50000

static const char page_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>loadgate report</title>\n"
    "<style>\n"
    ":root{--pass:#2da44e;--fail:#cf222e;--skip:#afb8c1;--xfail:#d4a72c;--xpass:#8250df;"
    "--crash:#57061a;--timeout:#e16f24;--error:#0550ae;--line:#d0d7de;--muted:#57606a}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;"
    "background:#f6f8fa}\n"
    "header{padding:14px 20px;background:#fff;border-bottom:1px solid var(--line)}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px}"
    "h3{font-size:14px;margin:14px 0 6px;font-family:ui-monospace,monospace}\n"
    ".env{color:var(--muted);font-size:12px}\n"
    ".verdict{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;"
    "font-weight:600;margin-right:8px}\n"
    ".counts span{display:inline-block;margin:6px 6px 0 0;padding:2px 8px;border-radius:10px;"
    "background:#eaeef2;font-size:12px}\n"
    ".counts b{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}\n"
    "main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,44%);gap:16px;padding:16px 20px}\n"
    "section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 14px;"
    "margin-bottom:16px}\n"
    "table{border-collapse:collapse}\n"
    ".grid th{font-weight:500;font-size:12px;color:var(--muted);padding:2px 6px;text-align:left;"
    "font-family:ui-monospace,monospace;white-space:nowrap}\n"
    ".grid td{border:1px solid var(--line);padding:3px;vertical-align:top;min-width:28px}\n"
    ".cell{display:flex;flex-wrap:wrap;gap:2px;max-width:260px}\n"
    ".sq{width:14px;height:14px;border-radius:2px;border:0;padding:0;cursor:pointer}\n"
    ".sq.sel{outline:2px solid #0969da;outline-offset:1px}\n"
    ".pass{background:var(--pass)}.fail{background:var(--fail)}.skip{background:var(--skip)}"
    ".xfail{background:var(--xfail)}.xpass{background:var(--xpass)}"
    ".crash{background:var(--crash)}.timeout{background:var(--timeout)}"
    ".error{background:var(--error)}\n"
    ".dim{opacity:.18}\n"
    "aside{position:sticky;top:10px;align-self:start;max-height:calc(100vh - 20px);overflow:auto;"
    "background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 14px}\n"
    "aside h2{font-family:ui-monospace,monospace;font-size:13px;word-break:break-all}\n"
    ".kv td{padding:2px 8px 2px 0;vertical-align:top}.kv td:first-child{color:var(--muted);"
    "white-space:nowrap}\n"
    "pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid var(--line);"
    "border-radius:4px;padding:6px 8px;margin:4px 0;font-size:12px}\n"
    ".trace{font-size:12px;font-family:ui-monospace,monospace;margin-top:6px}\n"
    ".trace th,.trace td{border-bottom:1px solid #eaeef2;padding:2px 6px;text-align:left}\n"
    ".trace tr.bad td{color:var(--fail)}\n"
    ".tag{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:12px}\n"
    ".muted{color:var(--muted)}label{font-size:12px;color:var(--muted);margin-left:10px}\n"
    ".works{background:var(--pass)}.rejected{background:var(--fail)}"
    ".unavailable{background:var(--skip)}.broken{background:var(--timeout)}\n"
    ".probe td{font-size:12px;font-family:ui-monospace,monospace;white-space:nowrap}\n";

static const char page_body[] =
    "</style>\n</head>\n<body>\n"
    "<header><h1>loadgate report</h1><div id=\"top\"></div></header>\n"
    "<main><div id=\"suites\"></div><aside id=\"detail\"><p class=\"muted\">Click a square to see "
    "the case: its messages, invariants and trace.</p></aside></main>\n"
    "<script type=\"application/json\" id=\"report-data\">";

static const char page_tail[] =
    "</script>\n<script>\n"
    "'use strict';\n"
    "const R=JSON.parse(document.getElementById('report-data').textContent);\n"
    "const ORDER=['pass','fail','skip','xfail','xpass','crash','timeout','error'];\n"
    "const KEYS={pass:'passed',fail:'failed',skip:'skipped',xfail:'xfailed',xpass:'xpassed',"
    "crash:'crashed',timeout:'timedout',error:'errors'};\n"
    "const BAD=new Set(['fail','xpass','crash','timeout']);\n"
    "function el(t,a,...kids){const e=document.createElement(t);"
    "for(const k in a||{}){if(k==='text')e.textContent=a[k];else if(k==='cls')e.className=a[k];"
    "else if(k.startsWith('on'))e.addEventListener(k.slice(2),a[k]);else e.setAttribute(k,a[k]);}"
    "for(const c of kids)if(c!=null)e.append(c);return e;}\n"
    "function counts(cs){const n={};ORDER.forEach(s=>n[s]=0);cs.forEach(c=>n[c.status]=(n[c.status]||0)+1);"
    "return n;}\n"
    "function badges(cs){const n=counts(cs);const d=el('div',{cls:'counts'});"
    "d.append(el('span',{text:cs.length+' cases'}));"
    "ORDER.forEach(s=>{if(n[s])d.append(el('span',{},el('b',{cls:s}),n[s]+' '+KEYS[s]));});return d;}\n"
    "let selected=null;const squares=[];\n"
    "function square(c){const b=el('button',{cls:'sq '+c.status,title:c.id+'  ['+c.status+']',"
    "'aria-label':c.id});b.addEventListener('click',()=>show(c,b));squares.push([b,c]);return b;}\n"
    "function values(cs,k){const v=[];cs.forEach(c=>{const x=(c.params||{})[k];"
    "if(x!==undefined&&!v.includes(x))v.push(x);});return v;}\n"
    "function grid(cs){const keys=[];cs.forEach(c=>Object.keys(c.params||{}).forEach(k=>{"
    "if(!keys.includes(k))keys.push(k);}));\n"
    " const vary=keys.map(k=>[k,values(cs,k)]).filter(x=>x[1].length>1).sort((a,b)=>a[1].length-b[1].length);\n"
    " if(vary.length===1&&vary[0][1].length<=16){const [k,v]=vary[0];const t=el('table',{cls:'grid'});"
    "const h=el('tr',{},el('th',{text:k+' \\u2192'})),r=el('tr',{},el('th'));v.forEach(x=>{h.append(el('th',{text:x}));"
    "const cell=el('div',{cls:'cell'});cs.filter(c=>c.params[k]===x).forEach(c=>cell.append(square(c)));"
    "r.append(el('td',{},cell));});t.append(h,r);return t;}\n"
    " if(vary.length<2||vary[0][1].length>16){const d=el('div',{cls:'cell',style:'max-width:none'});"
    "cs.forEach(c=>d.append(square(c)));return d;}\n"
    " const [ck,cv]=vary[0],[rk,rv]=vary[1];const t=el('table',{cls:'grid'});\n"
    " const h=el('tr',{},el('th',{text:rk+' \\u2193  '+ck+' \\u2192'}));cv.forEach(v=>h.append(el('th',{text:v})));"
    "t.append(h);\n"
    " rv.forEach(r=>{const tr=el('tr',{},el('th',{text:r}));cv.forEach(v=>{const cell=el('div',{cls:'cell'});"
    "cs.filter(c=>c.params[rk]===r&&c.params[ck]===v).forEach(c=>cell.append(square(c)));"
    "tr.append(el('td',{},cell));});t.append(tr);});\n"
    " const rest=vary.slice(2).map(x=>x[0]);if(rest.length)return el('div',{},t,"
    "el('div',{cls:'muted',text:'each cell: one square per '+rest.join(', ')}));return t;}\n"
    "function kv(rows){const t=el('table',{cls:'kv'});rows.forEach(([k,v])=>{if(v===null||v===undefined||v==='')return;"
    "t.append(el('tr',{},el('td',{text:k}),el('td',{},typeof v==='object'&&v.nodeType?v:document.createTextNode(String(v)))));});return t;}\n"
    "function tag(s){return el('span',{cls:'tag '+s,text:s});}\n"
    "function show(c,b){if(selected)selected.classList.remove('sel');selected=b;if(b)b.classList.add('sel');\n"
    " const d=document.getElementById('detail');d.replaceChildren();\n"
    " d.append(el('h2',{text:c.id}),tag(c.status));\n"
    " if(c.reason)d.append(el('pre',{text:c.reason}));\n"
    " const e=c.expected||{},a=c.actual||{};\n"
    " d.append(kv([['source',c.source],['backend',c.backend],['device',c.device],['policy',c.policy],"
    "['policy used',c.policy_used],['expected',[e.outcome,e.error,e.message&&('message contains \"'+e.message+'\"')]"
    ".filter(Boolean).join(', ')],['actual',[a.outcome,a.error,a.signal].filter(Boolean).join(', ')||'not run'],"
    "['duration',c.duration_s!=null?c.duration_s.toFixed(4)+' s':null]]));\n"
    " if(a.message)d.append(el('h3',{text:'error message'}),el('pre',{text:a.message}));\n"
    " if(c.stderr)d.append(el('h3',{text:'stderr (tail)'}),el('pre',{text:c.stderr}));\n"
    " const inv=c.invariants||{},why=c.invariant_failures||{};const it=el('table',{cls:'kv'});\n"
    " Object.keys(inv).forEach(k=>it.append(el('tr',{},el('td',{text:k}),el('td',{text:inv[k]+(why[k]?': '+why[k]:'')}))));\n"
    " d.append(el('h3',{text:'invariants'}),it);\n"
    " const mv=Object.entries(c.moved||{});if(mv.length)d.append(el('h3',{text:'bytes moved'}),"
    "kv(mv.map(([k,v])=>[k,v])));\n"
    " (c.faults||[]).forEach(f=>d.append(el('div',{cls:'muted',text:'fault '+f.point+' '+f.schedule+': hit '+f.hits+', fired '+f.fired})));\n"
    " const tr=c.trace||[];d.append(el('h3',{text:'trace ('+tr.length+' events'+(c.trace_dropped?', '+c.trace_dropped+' more not kept':'')"
    "+(c.trace_omitted?', not embedded in this page: see report.json':'')+')'}));\n"
    " if(tr.length){const t=el('table',{cls:'trace'});t.append(el('tr',{},...['seq','op','tensor','from','to','bytes','ok','detail']"
    ".map(h=>el('th',{text:h}))));\n"
    "  tr.forEach(ev=>t.append(el('tr',{cls:ev.ok?'':'bad'},...[ev.seq,ev.op,ev.tensor,ev.from,ev.to,ev.bytes,ev.ok?'yes':'no',ev.detail||'']"
    ".map(v=>el('td',{text:String(v)})))));d.append(t);}}\n"
    "function drawHeader(){const s=R.summary||{},env=R.environment||{};const t=document.getElementById('top');\n"
    " const bad=(s.failed||0)+(s.xpassed||0)+(s.crashed||0)+(s.timedout||0),err=s.errors||0;\n"
    " t.append(el('span',{cls:'verdict '+(err?'error':bad?'fail':'pass'),text:[err?'ERROR':'',bad?'FAILED':'']"
    ".filter(Boolean).join(', ')||'PASSED'}));\n"
    " t.append(el('span',{cls:'env',text:'loadgate '+env.loadgate+' \\u00b7 libtorch '+env.libtorch+' \\u00b7 backends '+"
    "(env.backends||[]).join(', ')+' \\u00b7 commit '+(env.commit?env.commit.slice(0,12):'unknown')+' \\u00b7 '+"
    "(s.duration_s||0).toFixed(2)+' s'}));\n"
    " const cb=el('input',{type:'checkbox',id:'only'});cb.addEventListener('change',()=>squares.forEach(([b,c])=>"
    "b.classList.toggle('dim',cb.checked&&!BAD.has(c.status)&&c.status!=='error')));\n"
    " t.append(badges(R.cases||[]),el('label',{'for':'only'},cb,' highlight failures and errors only'));\n"
    " if(s.interrupted)t.append(el('div',{},el('span',{cls:'verdict timeout',text:'INTERRUPTED'}),"
    "el('span',{cls:'env',text:s.interrupted_reason+'; the cases not run are skips'})));}\n"
    "function drawGroups(){groupTable(R.groups||[],'groups','Failures by error');"
    "groupTable(R.error_groups||[],'error-groups','Setup errors by message');}\n"
    "function groupTable(G,id,title){if(!G.length)return;const t=el('table',{cls:'kv',id:id});\n"
    " t.append(el('tr',{},...['cases','status and error','message pattern','examples'].map(h=>el('th',{text:h}))));\n"
    " G.forEach(g=>t.append(el('tr',{},el('td',{text:String(g.count)}),el('td',{text:g.code}),el('td',{},el('pre',"
    "{text:g.pattern})),el('td',{},...g.examples.map(id=>el('div',{},el('a',{href:'#',text:id,onclick:ev=>{"
    "ev.preventDefault();const q=squares.find(([b,c])=>c.id===id);if(q)show(q[1],q[0]);}})))))));\n"
    " const n=G.reduce((a,g)=>a+g.count,0);document.getElementById('suites').before(el('section',{},"
    "el('h2',{text:title+' ('+n+' cases in '+G.length+' groups)'}),t));}\n"
    "function drawSuites(){const root=document.getElementById('suites');const by=new Map();\n"
    " (R.cases||[]).forEach(c=>{if(!by.has(c.suite))by.set(c.suite,new Map());const m=by.get(c.suite);"
    "if(!m.has(c.name))m.set(c.name,[]);m.get(c.name).push(c);});\n"
    " by.forEach((names,suite)=>{const all=[].concat(...names.values());const sec=el('section',{},el('h2',{text:suite}),badges(all));\n"
    "  names.forEach((cs,name)=>sec.append(el('h3',{text:name}),grid(cs)));root.append(sec);});\n"
    " if(!by.size)root.append(el('section',{},el('p',{text:'No cases in this report.'})));}\n"
    "function drawPolicies(){const P=R.policies;if(!P)return;const t=el('table',{cls:'kv'});\n"
    " t.append(el('tr',{},...['invariant','tch held','tch broken','via-cpu held','via-cpu broken'].map(h=>el('th',{text:h}))));\n"
    " P.invariants.forEach(r=>t.append(el('tr',{},...[r.invariant,r.tch.held,r.tch.broken,r['via-cpu'].held,r['via-cpu'].broken]"
    ".map(v=>el('td',{text:String(v)})))));\n"
    " document.getElementById('suites').before(el('section',{},el('h2',{text:\"tch-rs's pattern beside via-cpu\"}),"
    "el('p',{text:'Per invariant, the cases that held it and broke it under the policy tch (tch-rs\\'s VarStore::load as written, '+"
    "P.cases.tch+' cases) and under via-cpu ('+P.cases['via-cpu']+' cases).'}),t));}\n"
    "function drawProbe(){const P=(R.environment||{}).probe;if(!P)return;const V=P.verdict||{},"
    "ps=P.probes||[],devs=['cpu','cuda','mps'];\n"
    " const t=el('table',{cls:'grid probe'});t.append(el('tr',{},...['reader'].concat(devs,['mps workaround',"
    "'tch-rs reads with it']).map(h=>el('th',{text:h}))));\n"
    " Object.entries(V.per_reader||{}).forEach(([r,x])=>t.append(el('tr',{},el('th',{text:r}),...devs.map(d=>{"
    "const p=ps.find(q=>q.reader===r&&q.device===d)||{};return el('td',{title:p.message||''},"
    "el('span',{cls:'sq '+(p.result||'')}),' '+(p.result||''));}),el('td',{text:x.mps_workaround}),"
    "el('td',{text:(x.extensions||[]).join(', ')}))));\n"
    " const cls={removable:'pass',needed:'fail'}[V.mps_workaround]||'skip';\n"
    " document.getElementById('suites').before(el('section',{},el('h2',{},el('span',{cls:'verdict '+cls,"
    "text:'MPS workaround: '+V.mps_workaround})),el('pre',{text:V.reason||''}),el('p',{cls:'env',"
    "text:'harness probe against libtorch '+P.libtorch+' ('+P.backend+' backend); --gate exits '+V.gate+"
    "'; hover a result for its message'}),t));}\n";

static const char page_end[] =
    "drawHeader();drawProbe();drawPolicies();drawGroups();drawHistory();drawSuites();drawFilters();\n"
    "const first=squares.find(([b,c])=>BAD.has(c.status))||squares.find(([b,c])=>c.status==='error');"
    "if(first)show(first[1],first[0]);\n"
    "</script>\n</body>\n</html>\n";

static size_t trace_events(const json_t *cases)
{
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(cases, i, c) n += json_array_size(json_object_get(c, "trace"));
    return n;
}

/* The cases as embedded: past the budget, passing cases lose their trace. */
static json_t *page_cases(const json_t *cases)
{
    size_t i;
    json_t *c;
    int trim = trace_events(cases) > HTML_TRACE_BUDGET;
    json_t *out = json_array();
    json_array_foreach(cases, i, c) {
        if (!out)
            return NULL;
        json_t *copy = json_copy(c);
        if (copy && trim && !hx_status_not_ok(hx_case_status(c))) {
            json_object_del(copy, "trace");
            json_object_set_new(copy, "trace_omitted", json_true());
        }
        if (json_array_append_new(out, copy)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The data, with <, > and & written as \u escapes: inside a JSON text they
 * only occur in strings, and escaped they cannot end the script element. */
static void put_data(FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '<')
            fputs("\\u003c", f);
        else if (*p == '>')
            fputs("\\u003e", f);
        else if (*p == '&')
            fputs("\\u0026", f);
        else
            fputc(*p, f);
    }
}

/* The failure groups (or, errors, the setup errors' groups) as the page
 * draws them: count, code, pattern and the ids of the examples. NULL when
 * out of memory. */
static json_t *page_groups(const json_t *cases, int errors)
{
    hx_fail_groups G;
    json_t *out = json_array();
    if (!out || (errors ? hx_error_groups_make : hx_fail_groups_make)(cases, &G) != LG_OK) {
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < G.n; i++) {
        json_t *ex = json_array();
        for (size_t e = 0; ex && e < G.g[i].nexamples; e++)
            json_array_append_new(ex, hx_json_str(hx_json_get_str(G.g[i].examples[e], "id")));
        json_array_append_new(out, json_pack("{s:I, s:s, s:s, s:o?}", "count",
                                             (json_int_t)G.g[i].count, "code", G.g[i].code,
                                             "pattern", G.g[i].pattern, "examples", ex));
    }
    hx_fail_groups_free(&G);
    return out;
}

lg_status hx_report_write_html(const hx_report *r, const char *path)
{
    json_t *doc = json_pack("{s:O?, s:O?, s:o, s:o, s:o?, s:o, s:o, s:O?}", "environment",
                            r->environment, "run", r->run, "summary", hx_report_summary(r),
                            "cases", page_cases(r->cases), "policies",
                            hx_policy_table(r->cases), "groups", page_groups(r->cases, 0),
                            "error_groups", page_groups(r->cases, 1), "history", r->history);
    char *text = doc ? hx_json_dumps(doc, JSON_COMPACT) : NULL;
    FILE *f;
    json_decref(doc);
    if (!text)
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    lg_status st = hx_fopen_out(path, &f);
    if (st != LG_OK) {
        free(text);
        return st;
    }
    fputs(page_head, f);
    fputs(hx_html_tools_css, f);
    fputs(page_body, f);
    put_data(f, text);
    fputs(page_tail, f);
    fputs(hx_html_tools_js, f);
    fputs(page_end, f);
    free(text);
    return hx_fclose_checked(f, path);
}
