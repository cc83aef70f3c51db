// Package update moves new versions of equus and of the check library from
// helen to its agents.
//
// On helen's side, Discover finds the newest release in a goreleaser dist/
// folder (or Self offers helen's own executable), offering only files that
// checksums.txt vouches for and, with an update key, that the key signed;
// OpenBinary yields the equus binary of one platform, taken out of its
// archive when need be, from the file it hashes again. Helen describes it
// to an agent in an Offer.
//
// On the agent's side, stage0 fetches the offered binary with Download, which
// reads through a size limit and checks size, SHA-256 and, where an update
// key is configured, the minisign signature. An Updater then replaces the
// agent binary that stage0 owns (in the agent's data directory, never
// stage0's own executable, which a package manager may own) in two steps:
// Prepare writes and checks the new file next to the old one while equus
// may still run, Commit swaps it in, and Rollback puts the old one back
// when the new one will not start. Install puts a copy of stage0's own
// executable there when that is the version to run.
//
// The check bundle travels as a deterministic tar.gz of the check
// directory's *.lua files and the manifest the operator signed
// (PackBundle, BundleManifest), and is checked against that manifest and
// installed by InstallBundle into
// a fresh versioned directory that a symbolic link swap makes current in one
// step, so that a reader sees either the old bundle or the new one, never a
// mix.
//
// The package returns errors and does not log.
package update

import "errors"

var (
	// ErrChecksum means that a file's size or SHA-256 is not the one
	// announced.
	ErrChecksum = errors.New("update: checksum mismatch")
	// ErrTooLarge means that a file is larger than announced or than the
	// limit for its kind.
	ErrTooLarge = errors.New("update: too large")
	// ErrSignature means that a minisign signature is missing or does not
	// verify with the configured key.
	ErrSignature = errors.New("update: bad signature")
	// ErrBusy means that the Updater already has an update in progress.
	ErrBusy = errors.New("update: another update is in progress")
	// ErrNotPrepared means that Commit was called without a prepared update.
	ErrNotPrepared = errors.New("update: no prepared update")
)
