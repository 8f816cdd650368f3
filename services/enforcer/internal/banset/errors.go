package banset

import (
	"errors"
	"fmt"

	"github.com/mxwarden/mxwarden/pkg/event"
)

var (
	// ErrDecode is returned by Apply for a value that is not JSON. It
	// wraps event.ErrInvalid, like every other decode failure.
	ErrDecode = fmt.Errorf("%w: value is not JSON", event.ErrInvalid)
	// ErrEmptyKey is returned by Apply for a record without a key: the
	// compacted topic cannot hold or lift such a ban.
	ErrEmptyKey = errors.New("record without key")
	// ErrKeyMismatch is returned by Apply when the record key is not
	// event.BanKey of the ban it carries. Storing it under either key
	// would let a later tombstone miss it or a lookup miss it.
	ErrKeyMismatch = errors.New("record key does not match ban subject")
)
