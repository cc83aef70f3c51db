package console

import (
	"io"
	"time"

	"github.com/equus-monitoring/equus/internal/svgchart"
	"github.com/equus-monitoring/equus/state"
)

// StoreGrapher is the Grapher helen serves: the store's rollups
// (state.Store.Series, SeriesNames) drawn by internal/svgchart, which
// downsamples a series to one point a pixel of the graph's width, min and
// max kept, so that a spike is never averaged away.
func StoreGrapher(store state.Store) Grapher { return storeGrapher{store} }

type storeGrapher struct{ store state.Store }

func (g storeGrapher) SeriesNames(agent, schedule string) ([]string, error) {
	return g.store.SeriesNames(agent, schedule)
}

func (g storeGrapher) Graph(w io.Writer, gr Graph) error {
	bs, err := g.store.Series(gr.Agent, gr.Schedule, gr.Metric, gr.From, gr.To)
	if err != nil {
		return err
	}
	return svgchart.Render(w, svgchart.Chart{
		Title: gr.Title, Unit: gr.Unit, From: gr.From, To: gr.To, Buckets: bs,
		Warn: gr.Warn, Crit: gr.Crit, Width: gr.Width, Height: gr.Height,
	})
}

func (g storeGrapher) Sparkline(w io.Writer, agent, schedule, metric string, from, to time.Time, width, height int) error {
	bs, err := g.store.Series(agent, schedule, metric, from, to)
	if err != nil {
		return err
	}
	bs = svgchart.Downsample(bs, from, to, width)
	means := make([]float64, len(bs))
	for i, b := range bs {
		means[i] = b.Mean
	}
	return svgchart.Sparkline(w, means, width, height)
}
