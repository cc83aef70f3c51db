package agentapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// bootstrapTemplate is the bootstrap script as written; helen fills in
// its lines for the update key and the platforms (bootstrapScript).
//
//go:embed bootstrap.sh
var bootstrapTemplate []byte

// The lines of bootstrap.sh that helen fills in, empty as the script is
// written.
var (
	bootstrapKeyLine       = []byte("helen_update_key=''\n")
	bootstrapPlatformsLine = []byte("helen_platforms=''\n")
)

// platformWord is what a GOOS or GOARCH looks like; anything else is kept
// out of the script.
var platformWord = regexp.MustCompile(`^[a-z0-9]+$`)

// bootstrapScript returns /bootstrap.sh: the script with helen's update
// key, when it has one, as the key the script checks the binary with and
// gives the agent, so that a machine that joins through it takes only
// signed binaries and check bundles from then on; and with the platforms
// of the release on offer, so that the script refuses a machine helen has
// no binary for before it downloads anything. (The key is base64, and the
// platforms words of [a-z0-9/], which need no quoting beyond the single
// quotes.)
func (s *API) bootstrapScript() []byte {
	script := bootstrapTemplate
	if s.cfg.UpdateKey != nil {
		line := fmt.Appendf(nil, "helen_update_key='%s'\n", s.cfg.UpdateKey.String())
		script = bytes.Replace(script, bootstrapKeyLine, line, 1)
	}
	if p := s.platforms(); len(p) > 0 {
		line := fmt.Appendf(nil, "helen_platforms='%s'\n", strings.Join(p, " "))
		script = bytes.Replace(script, bootstrapPlatformsLine, line, 1)
	}
	return script
}

// platforms returns the GOOS/GOARCH pairs of the release on offer, sorted;
// none when helen offers no release.
func (s *API) platforms() []string {
	rel, err := s.offers.Current()
	if err != nil {
		return nil
	}
	var p []string
	for _, a := range rel.Assets {
		if platformWord.MatchString(a.OS) && platformWord.MatchString(a.Arch) {
			p = append(p, a.OS+"/"+a.Arch)
		}
	}
	slices.Sort(p)
	return slices.Compact(p)
}
