// Package stage0 is the agent's supervisor: `equus stage0` runs the agent
// (`equus equus`) as its child and keeps it running and up to date.
//
// The agent runs from DATA/bin/equus, a binary that stage0 owns, never from
// stage0's own executable, which a package manager may own (/usr/bin/equus,
// which may be helen's too) and which stage0 never writes. When stage0
// starts, it keeps DATA/bin/equus only if that is strictly newer than its
// own version (semantic versions) and not a version that failed here: an
// update from helen that the package has not caught up with. Otherwise,
// when it is missing, does not run, is as old or older (a package upgrade),
// failed, or has a version that cannot be compared, stage0 copies its own
// executable there (see keepOwned). So a package upgrade wins over an older
// update, an update newer than the package is kept until the package
// catches up, and `dpkg --verify` finds the package's file as installed.
// Where DATA/bin cannot be written, stage0 runs its own executable as the
// agent and makes no update, saying why.
//
// The child gets EQUUS_SUPERVISED=1 in its environment, and
// EQUUS_STAGE0_EXECUTABLE naming stage0's own executable, which its exec
// policy refuses as its own. It prints
// "ready <version>" on its stdout once helen accepted its hello, and exits
// with status 3 when helen asks for a reload. Any other exit is a crash:
// stage0 starts the agent again after a wait that begins at
// --restart-backoff (1 s), doubles up to a minute, and starts over once an
// agent has stayed up for a minute.
//
// On a reload, and once when stage0 starts with an enrolled agent, stage0
// syncs with helen over mutual TLS with the agent's certificate (an agent
// that enrolls on its first start gets the check bundle once it says
// ready, and is started again when that changed its checks):
//
//   - the check bundle (GET /v1/bundle), checked against its SHA-256 and
//     its manifest (with --update-key, a manifest signed by the key) and
//     swapped into DATA/checks in one step (update.InstallBundle);
//   - the binary (GET /v1/update): when helen offers a version newer than
//     the one running, and not one that failed here before, stage0
//     downloads it (size limit, SHA-256, and the minisign signature when
//     --update-key is set), checks that "<new> version" runs and names the
//     offered version, swaps it in for DATA/bin/equus with
//     minio/selfupdate (the previous one kept as DATA/bin/equus.old), and
//     starts it. If the new agent exits, or does not say "ready <version>"
//     within --ready-timeout, stage0 puts the old binary back, starts it,
//     and records the version as bad in DATA/stage0-state.json so that it
//     is never tried again, even after a restart of stage0.
//
// A failure of either leaves the agent as it was, with one log line that
// says why. A reload that changed nothing, soon after the last start (helen
// keeps asking for a version that cannot be installed here), waits like a
// crash before the agent starts again, so that the two do not spin.
//
// Updates run one at a time: they happen only in the supervisor's loop,
// between one child and the next.
//
// stage0 itself stays the process it was started as, from its own
// executable: after an update it runs the new binary as its child, and its
// own code changes only with its own executable (a package upgrade, or the
// bootstrap script run again). It never needs the new code to supervise,
// since the contract between the two (flags, EQUUS_SUPERVISED, the ready
// line, status 3) does not change between versions, and the agent it runs
// is never older than itself, so knows EQUUS_STAGE0_EXECUTABLE too.
//
// Once the agent says ready with a certificate that has not expired,
// stage0 removes the enrollment token from its --config file (the token is
// spent; the other lines stay as they are) and starts the agent without it
// from then on.
package stage0
