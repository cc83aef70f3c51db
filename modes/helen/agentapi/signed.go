package agentapi

import (
	"net/http"

	"github.com/equus-monitoring/equus/modes/helen/reply"
)

// handleDownloadSignature serves the minisign signature of the binary that
// GET /v1/download serves for a platform, for the bootstrap script to
// check it with its update key; 404 when the release has none.
func (s *API) handleDownloadSignature(w http.ResponseWriter, r *http.Request) {
	rel, a, ok := s.platformAsset(w, r)
	if !ok {
		return
	}
	sig := a.BinarySignature()
	if sig == "" {
		reply.Error(w, http.StatusNotFound, "the %s/%s binary of release %s is not signed", a.OS, a.Arch, rel.Version)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Equus-Version", rel.Version)
	w.Header().Set("X-Equus-Sha256", a.SHA256)
	w.Write([]byte(sig))
}
