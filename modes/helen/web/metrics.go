package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
)

// Metrics writes the /metrics page in the Prometheus text format.
type Metrics interface {
	WritePrometheus(w io.Writer)
}

// metricsHandler serves m's page, gzipped to the scrapers that take it
// (Prometheus does), as the text format of version 0.0.4.
func metricsHandler(m Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			m.WritePrometheus(w)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		gz := gzip.NewWriter(w)
		m.WritePrometheus(gz)
		gz.Close()
	})
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) == "gzip" && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
