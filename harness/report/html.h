/* Parts of index.html kept apart from html.c (html_tools.c): the CSS and
 * the script of the filters, the search box and the history chart. The
 * script defines drawFilters() and drawHistory() and uses html.c's el(),
 * squares, ORDER, BAD and R. */
#ifndef HX_HTML_H
#define HX_HTML_H

extern const char hx_html_tools_css[];
extern const char hx_html_tools_js[];
#endif
