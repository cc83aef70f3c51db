package console

import (
	"io"
	"time"
)

// Grapher draws what the pages show of the metrics' series: helen wires
// one over the store's rollups (state.Store.Series and SeriesNames) and
// internal/svgchart (Downsample, Render, Sparkline). Each writes one
// inline SVG element, escaped and with no script or external reference.
type Grapher interface {
	// SeriesNames returns the names of the metrics with a series of
	// schedule on agent, the first its main one.
	SeriesNames(agent, schedule string) ([]string, error)
	// Graph writes the graph of g's metric over [g.From, g.To).
	Graph(w io.Writer, g Graph) error
	// Sparkline writes a tiny graph of metric's means over [from, to).
	Sparkline(w io.Writer, agent, schedule, metric string, from, to time.Time, width, height int) error
}

// Graph is what the schedule's page asks a Grapher to draw.
type Graph struct {
	Agent, Schedule, Metric string
	Title, Unit             string
	From, To                time.Time
	Warn, Crit              *float64 // the newest result's thresholds; nil for none
	Width, Height           int      // px of the viewBox
}

// Ranges are the spans a graph can be drawn over, as the range picker
// offers them.
var Ranges = []struct {
	Name string
	Span time.Duration
}{
	{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour},
}

// sparklineSpan is the span of an agent page's sparklines (the 1-minute
// tier of the rollups).
const sparklineSpan = 6 * time.Hour

// Sizes of what is drawn, px.
const (
	graphWidth, graphHeight         = 720, 200
	sparklineWidth, sparklineHeight = 120, 24
)
