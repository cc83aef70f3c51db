// Package svgchart draws a metric's series as SVG on the server, for
// helen's pages and its API: a band from each bucket's min to its max, its
// mean as a line, time and value ticks, and threshold lines. It does no
// I/O but the writer it is given and knows nothing of where the numbers
// come from.
//
// The SVG is made for inlining in a page whose policy allows no script:
// it holds none, refers to nothing outside itself, escapes every text it
// was given, and its size is bounded by its width in pixels whatever the
// number of buckets, which are merged to at most one a pixel (Downsample,
// min and max kept, so a spike is never averaged away).
package svgchart
