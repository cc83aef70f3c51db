package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runAPI does what helen run does, through helen's admin socket in its
// data directory, with o.inflight requests at once: POST
// /v1/agents/AGENT/run of o.run on o.agent until o.duration has passed.
// With o.batch > 1 each request is POST /v1/agents/AGENT/runs of that
// many runs. It prints each second's count of runs and latencies, then those of the whole
// run after the warmup. Every request is one check run on the agent, and
// every result but equus.ping's is stored before helen answers.
func runAPI(ctx context.Context, o options) error {
	sock := filepath.Join(o.data, "helen.sock")
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: o.inflight,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	one := map[string]any{"check": o.run, "args": json.RawMessage(o.args), "timeout": "10s"}
	body, err := json.Marshal(one)
	url := "http://helen/v1/agents/" + o.agent + "/run"
	if o.batch > 1 {
		body, err = json.Marshal(map[string]any{"runs": slices.Repeat([]any{one}, o.batch)})
		url += "s"
	}
	if err != nil {
		return fmt.Errorf("-args: %w", err)
	}
	do := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		if o.batch > 1 {
			var out []struct{ Error string }
			if err := json.Unmarshal(b, &out); err != nil {
				return err
			}
			for _, r := range out {
				if r.Error != "" {
					return fmt.Errorf("a run of the batch: %s", r.Error)
				}
			}
		}
		return nil
	}
	if err := do(ctx); err != nil {
		return fmt.Errorf("run %s on %s: %w", o.run, o.agent, err)
	}

	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	from := start.Add(o.warmup)
	var (
		mu      sync.Mutex
		bySec   = map[int][]time.Duration{}
		failed  atomic.Int64
		lastErr atomic.Value
	)
	var wg sync.WaitGroup
	for range o.inflight {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := do(ctx); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						lastErr.Store(err.Error())
					}
					continue
				}
				d := time.Since(t0)
				mu.Lock()
				sec := int(t0.Sub(start) / time.Second)
				for range max(o.batch, 1) {
					bySec[sec] = append(bySec[sec], d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	if o.batch > 1 {
		fmt.Printf("%s on %s through the admin API, %d requests of %d runs in flight (latency of a request):\n", o.run, o.agent, o.inflight, o.batch)
	} else {
		fmt.Printf("%s on %s through the admin API, %d in flight:\n", o.run, o.agent, o.inflight)
	}
	var all []time.Duration
	last := int(time.Since(start)/time.Second) - 1 // whole seconds only
	for sec := 0; sec <= last; sec++ {
		ds := bySec[sec]
		p50, p99 := percentiles(ds)
		mark := ""
		if start.Add(time.Duration(sec) * time.Second).Before(from) {
			mark = " (warmup)"
		} else {
			all = append(all, ds...)
		}
		fmt.Printf("  second %3d: %7d/s  p50 %8s  p99 %8s%s\n", sec+1, len(ds), p50, p99, mark)
	}
	secs := last + 1 - int(o.warmup/time.Second)
	if secs > 0 {
		p50, p99 := percentiles(all)
		fmt.Printf("after the warmup: %.0f/s over %d s, p50 %s, p99 %s; failed %d\n", float64(len(all))/float64(secs), secs, p50, p99, failed.Load())
	}
	if e, ok := lastErr.Load().(string); ok {
		fmt.Printf("last error: %s\n", e)
	}
	return nil
}

// percentiles returns the median and the 99th percentile of ds.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	round := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	return round(s[len(s)/2]), round(s[len(s)*99/100])
}
