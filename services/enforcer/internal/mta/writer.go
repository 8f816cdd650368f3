package mta

import (
	"context"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// Writer is one MTA output. The enforcer calls Connect once before the
// first Write, Write from a single goroutine whenever the ban set changed,
// and Close once at shutdown.
type Writer interface {
	// Connect prepares the output (creates the directory, checks it can
	// write there, loads what is already written). ctx bounds the call.
	Connect(ctx context.Context) error
	// Write makes the output hold exactly the bans of snap. It returns
	// ErrNotConnected before Connect or after Close. A failed Write leaves
	// the previous output in place and is retried by the next Write. ctx
	// bounds the call, including any command it runs.
	Write(ctx context.Context, snap banset.Snapshot) error
	// Close releases the output; the written files stay. ctx bounds the call.
	Close(ctx context.Context) error
}
