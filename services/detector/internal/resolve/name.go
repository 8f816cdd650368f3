package resolve

import (
	"errors"
	"strings"

	"golang.org/x/net/idna"
)

// Why a name was refused before any query: the only values of
// mxwarden_detector_dns_names_rejected_total's label.
const (
	RejectEmpty       = "empty"
	RejectTooLong     = "too_long"     // more than 253 bytes (RFC 1035 §2.3.4, presentation form)
	RejectLabelLength = "label_length" // an empty label or one over 63 bytes
	RejectNotLDH      = "not_ldh"      // a byte outside letters, digits and hyphen, or a hyphen at a label's edge
	RejectIDN         = "idn"          // a Unicode name that does not convert to a valid A-label form
)

// RejectReasons lists the rejection reasons.
func RejectReasons() []string {
	return []string{RejectEmpty, RejectTooLong, RejectLabelLength, RejectNotLDH, RejectIDN}
}

// NameError is CheckName's error: Reason is one of the Reject values.
type NameError struct{ Reason string }

func (e *NameError) Error() string { return "domain name refused: " + e.Reason }

// CheckName returns the query form of a mail domain (lower-case ASCII,
// IDN converted to A-labels, no trailing dot) or a *NameError: nothing
// but a syntactically valid host name (RFC 1123 LDH labels of 1-63 bytes,
// at most 253 bytes) ever reaches a query.
func CheckName(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", &NameError{RejectEmpty}
	}
	if len(s) > 4*253 { // no conversion of a huge input
		return "", &NameError{RejectTooLong}
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", &NameError{RejectIDN}
		}
		s = a
	}
	s = strings.ToLower(s)
	if len(s) > 253 {
		return "", &NameError{RejectTooLong}
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return "", &NameError{RejectLabelLength}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", &NameError{RejectNotLDH}
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", &NameError{RejectNotLDH}
			}
		}
	}
	return s, nil
}

// RejectReason returns the reason of a CheckName error ("" for others).
func RejectReason(err error) string {
	var ne *NameError
	if errors.As(err, &ne) {
		return ne.Reason
	}
	return ""
}
