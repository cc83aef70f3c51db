package server

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/equus-monitoring/equus/pki"
)

// The join command names the address agents reach helen at. Helen serve
// decides it when it listens (advertise) and records it in the data
// directory (AdvertisedFile), because helen token run while no helen runs
// has none of serve's flags, environment or config file to work it out
// again: what the last helen serve advertised is what its agents reach.

// AdvertisedFile records, in the data directory, the address the last
// helen serve advertised and where it came from.
const AdvertisedFile = "advertised.json"

// Where an advertised address comes from.
const (
	fromAdvertise = "--advertise"
	fromSAN       = "--san"
	fromListen    = "--listen"
	fromHost      = "the host name"
	fromNone      = "none recorded" // offline, before any helen serve recorded one
)

// defaultAgentsPort is the port of --listen's default, :7480.
const defaultAgentsPort = "7480"

// advertisement is the address agents reach helen at, HOST:PORT, and what
// said so (one of the from constants).
type advertisement struct {
	Addr string `json:"addr"`
	From string `json:"from"`
}

// explain says which address the join command uses, why, and how to
// change it.
func (a advertisement) explain() string {
	why := map[string]string{
		fromAdvertise: "from --advertise",
		fromSAN:       "from --san; set --advertise to change",
		fromListen:    "from --listen; set --san or --advertise to change",
		fromHost:      "the host name; set --san or --advertise to change",
		fromNone:      "the host name: no helen serve has recorded the address it advertises in this data directory yet; start it once, with --san or --advertise",
	}[a.From]
	if why == "" {
		why = "from " + a.From
	}
	return fmt.Sprintf("agents will reach helen at %s (%s)", a.Addr, why)
}

// checkAdvertise reports what is wrong with an --advertise value, which
// must be HOST:PORT with a host the server certificate can name.
func checkAdvertise(addr string) (host string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--advertise %q: want HOST:PORT: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--advertise %q: port %q is not a number from 1 to 65535", addr, port)
	}
	if err := pki.CheckSAN(host); err != nil {
		return "", fmt.Errorf("--advertise %q: %w", addr, err)
	}
	if strings.HasPrefix(host, "*") {
		return "", fmt.Errorf("--advertise %q: a wildcard is no address to dial", addr)
	}
	return host, nil
}

// advertise returns the address agents reach helen at, for the agents'
// listener at ln: --advertise as it is; else the first --san (that is not
// a wildcard), then the
// listener's own address when it is a specific one the certificate
// names, then the host name, with the listener's port.
func (s *Server) advertise(ln net.Addr) advertisement {
	if s.cfg.Advertise != "" {
		return advertisement{s.cfg.Advertise, fromAdvertise}
	}
	port := defaultAgentsPort
	ta, ok := ln.(*net.TCPAddr)
	if ok {
		port = strconv.Itoa(ta.Port)
	}
	for _, san := range s.cfg.SANs {
		if !strings.HasPrefix(san, "*") {
			return advertisement{net.JoinHostPort(san, port), fromSAN}
		}
	}
	if ok && !ta.IP.IsUnspecified() && s.leaf().VerifyHostname(ta.IP.String()) == nil {
		return advertisement{net.JoinHostPort(ta.IP.String(), port), fromListen}
	}
	return advertisement{net.JoinHostPort(pki.DefaultSANs()[0], port), fromHost}
}

// recordAdvertised writes a to the data directory for the helen commands
// run while helen does not.
func recordAdvertised(dir string, a advertisement) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := pki.WritePEMFile(filepath.Join(dir, AdvertisedFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("record the advertised address: %w", err)
	}
	return nil
}

// readAdvertised returns what the last helen serve recorded in dir, or,
// when none did, the host name with the default port.
func readAdvertised(dir string) (advertisement, error) {
	path := filepath.Join(dir, AdvertisedFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return advertisement{net.JoinHostPort(pki.DefaultSANs()[0], defaultAgentsPort), fromNone}, nil
	}
	if err != nil {
		return advertisement{}, fmt.Errorf("advertised address: %w", err)
	}
	var a advertisement
	if err := json.Unmarshal(data, &a); err != nil || a.Addr == "" {
		return advertisement{}, fmt.Errorf("advertised address in %s: not what helen serve writes (%v); remove it and start helen serve", path, err)
	}
	return a, nil
}

// leaf is helen's server certificate.
func (s *Server) leaf() *x509.Certificate { return leafOf(s.cert.Leaf, s.cert.Certificate) }

func leafOf(leaf *x509.Certificate, chain [][]byte) *x509.Certificate {
	if leaf != nil || len(chain) == 0 {
		return leaf
	}
	leaf, _ = x509.ParseCertificate(chain[0])
	return leaf
}

// maxHelens bounds the helens a join command names, this one with the
// others, and those a try_elsewhere names: the agent's own bound
// (equus.MaxHelens, wire.MaxElsewhere).
const maxHelens = 16

// otherHelens returns the agents' addresses of the other helens that
// share this one's store, from the Helens hook: each HOST:PORT as
// --advertise takes it, not own, at most max.
func (s *Server) otherHelens(own string, max int) []string {
	if s.cfg.Helens == nil {
		return nil
	}
	var out []string
	for _, addr := range s.cfg.Helens() {
		if len(out) >= max {
			break
		}
		if _, err := checkAdvertise(addr); err != nil || addr == own || slices.Contains(out, addr) {
			continue
		}
		out = append(out, addr)
	}
	return out
}

// elsewhere returns the addresses a helen at its bound of sessions sends
// agents to: the other helens'.
func (s *Server) elsewhere() []string {
	own := s.advertised.Addr
	if own == "" {
		own = s.advertise(nil).Addr
	}
	return s.otherHelens(own, maxHelens)
}

// joiner makes the one-line command that installs and enrolls an agent on
// a machine, through helen's bootstrap script.
type joiner struct {
	helen     advertisement
	others    []string // the other helens' addresses, for the agent
	caPin     string   // of helen's CA, for the agent
	pubkeyPin string   // of helen's server key, for curl's --pinnedpubkey
	updateKey string   // helen's update key, "" for none
}

// helens returns the addresses of every helen the join command names,
// this one's first; none when it names this one alone.
func (j joiner) helens() []string {
	if len(j.others) == 0 {
		return nil
	}
	return append([]string{j.helen.Addr}, j.others...)
}

// joiner returns the join command maker of this helen: its advertised
// address once it listens.
func (s *Server) joiner() joiner {
	adv := s.advertised
	if adv.Addr == "" {
		adv = s.advertise(nil)
	}
	j := joiner{helen: adv, others: s.otherHelens(adv.Addr, maxHelens-1), caPin: s.ca.Pin(), pubkeyPin: pubkeyPin(s.leaf())}
	if s.cfg.UpdateKey != nil {
		j.updateKey = s.cfg.UpdateKey.String()
	}
	return j
}

// offlineJoiner returns the join command maker of a helen that is not
// running, from its data directory, which it only reads: the CA, the
// server certificate, and the address and update key its last serve
// recorded.
func offlineJoiner(dataDir string) (joiner, error) {
	ca, err := pki.LoadCA(dataDir)
	if err != nil {
		return joiner{}, err
	}
	cert, err := pki.LoadServer(dataDir)
	if err != nil {
		return joiner{}, err
	}
	adv, err := readAdvertised(dataDir)
	if err != nil {
		return joiner{}, err
	}
	key, err := RecordedUpdateKey(dataDir)
	if err != nil {
		return joiner{}, err
	}
	j := joiner{helen: adv, caPin: ca.Pin(), pubkeyPin: pubkeyPin(leafOf(cert.Leaf, cert.Certificate))}
	if key != nil {
		j.updateKey = key.String()
	}
	return j, nil
}

// pubkeyPin is curl's --pinnedpubkey value for helen's server key.
func pubkeyPin(leaf *x509.Certificate) string {
	if leaf == nil {
		return ""
	}
	return pki.PublicKeyPin(leaf)
}

// joinFormat is the shape of the join command: sh -c downloads the whole
// script first and runs it only if curl succeeded, so that a wrong pin, an
// unreachable helen or a cut download makes the command fail (a plain
// "curl | sh" exits with the status of sh, 0 on empty input); the
// script's options follow as sh's arguments, so an operator can add more
// (--name) at the end; and it is one POSIX command whatever shell it is
// pasted into. Its values: the pin, helen's address, then the options.
const joinFormat = `sh -c 'b=$(curl -fsS --insecure --pinnedpubkey "%s" https://%s/bootstrap.sh) && printf "%%s\n" "$b" | sh -s -- "$@"' bootstrap %s`

// command returns the join command with token, which hands the agent
// helen's update key when there is one, and every helen's address: the
// script comes from this one, the agent dials any.
func (j joiner) command(token string) string {
	addr := j.helen.Addr
	helens := "--helen " + addr
	for _, o := range j.others {
		helens += " --helen " + shellQuote(o)
	}
	join := fmt.Sprintf(joinFormat, j.pubkeyPin, addr,
		fmt.Sprintf("%s --ca-pin %s --pubkey-pin '%s' --token %s", helens, j.caPin, j.pubkeyPin, token))
	if j.updateKey != "" {
		// The agent then takes only binaries and check bundles signed by
		// the key, starting with the binary the script installs.
		join += fmt.Sprintf(" --update-key '%s'", j.updateKey)
	}
	return join
}

// JoinCommand returns the one-line command that installs and enrolls an
// agent on a machine with token, through helen's bootstrap script.
func (s *Server) JoinCommand(token string) string { return s.joiner().command(token) }

// JoinWhere says which address the join commands send agents to, why, and
// how to change it, and the other helens' they name.
func (s *Server) JoinWhere() string {
	j := s.joiner()
	return explainHelens(j.helen, j.others)
}

// ExplainAdvertised says, for an address a helen advertised and where it
// came from (a token's answer: helen, helen_from), why and how to change
// it, and which others the join command names (the rest of helens).
func ExplainAdvertised(addr, from string, helens []string) string {
	return explainHelens(advertisement{Addr: addr, From: from}, slices.DeleteFunc(slices.Clone(helens), func(h string) bool { return h == addr }))
}

func explainHelens(a advertisement, others []string) string {
	if len(others) == 0 {
		return a.explain()
	}
	return a.explain() + ", or at the other helens, " + strings.Join(others, ", ")
}
