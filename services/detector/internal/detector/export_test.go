package detector

import "github.com/mxwarden/mxwarden/services/detector/internal/rules"

const CodeInvalidRecipientsForTest = rules.CodeInvalidRecipients
