// Package mta writes the ban set into the lookup tables MTAs read.
//
// Every output is a Writer (Connect, Write, Close; ErrNotConnected before
// Connect and after Close). The file writers share one path: a Format
// renders the bans of one Side (sender or recipient) into the bytes of a
// map file, and FileWriter puts those bytes on disk atomically (temporary
// file in the same directory, fsync, rename, fsync of the directory), only
// when they changed, and optionally runs a command such as postmap after.
// `enforcer render` runs the same Format on ban JSON lines.
//
// Which bans go where. The sender map holds bans of kind sender (key: the
// full address) and sender_domain (key: the domain); the recipient map
// holds recipient and recipient_domain. Account, client_ip and
// sender_recipient bans are only enforced by the policy server (and the
// rspamd map: account and client_ip). Defer bans go to the Postfix maps
// (DEFER_IF_PERMIT) only. The allowlist wins: exempt bans never reach a
// Format (banset.Snapshot leaves them out); an allowlisted address inside
// a banned domain is a "DUNNO" line in Postfix maps, and leaves the domain
// out of the Exim files and the rspamd map, which cannot express it
// (SkipAllowlisted). Output is sorted by kind, then key.
//
// Hostile subjects. Subjects come from the outside world. A subject that
// fails event.CheckToken, holds a non-printable rune, is not a plain
// local@domain address (or domain) or holds a character the format cannot
// carry is skipped, never escaped into a new line: it is counted in
// mxwarden_enforcer_map_entries_skipped_total{format,reason} and logged once
// per writer when it first appears. Messages are reduced to one line of
// printable ASCII by SanitizeMessage.
//
// Postfix (format "postfix-access"): access(5) lines "<key> REJECT <message>",
// for
//
//	smtpd_sender_restrictions = check_sender_access texthash:/var/lib/mxwarden/maps/sender_access
//	smtpd_recipient_restrictions = check_recipient_access texthash:/var/lib/mxwarden/maps/recipient_access
//
// which needs maps.postfix_reload = "postfix reload" (texthash: tables are
// read when a daemon starts), or hash:/lmdb: tables with maps.postmap =
// "postmap hash:{path}", which Postfix notices by itself. Note that a
// domain key also matches subdomains while parent_domain_matches_subdomains
// lists smtpd_access_maps (the Postfix default); the policy server matches
// domains exactly.
//
// Exim (format "exim"): lsearch lines "<key>: <message>", keys with ':',
// '"', '\' or a leading '#' double-quoted. Address and domain keys share one
// file per side (only addresses hold '@'), for example in the RCPT ACL:
//
//	deny condition = ${lookup{$sender_address}lsearch{/var/lib/mxwarden/maps/exim_sender_bans}{yes}{${lookup{$sender_address_domain}lsearch{/var/lib/mxwarden/maps/exim_sender_bans}{yes}{no}}}}
//	     message = ${lookup{$sender_address}lsearch{/var/lib/mxwarden/maps/exim_sender_bans}{$value}{${lookup{$sender_address_domain}lsearch{/var/lib/mxwarden/maps/exim_sender_bans}}}}
//
// Exim address lists (format "exim-list"), as hosting panels wire them
// (DirectAdmin: senders = nwildlsearch*@;/etc/exim/spam_senders): an
// address ban is "<address>: <message>", a domain ban "*@<domain>:
// <message>" so the list matches every address of the domain; keys that
// wildlsearch would read as a pattern (leading '^' or '*') are skipped:
//
//	deny senders = nwildlsearch*@;/etc/exim/spam_senders
//	     message = ${lookup{$sender_address}nwildlsearch*@{/etc/exim/spam_senders}{$value}{Sender blocked}}
//
// rspamd: RspamdHandler serves the maps of RspamdMaps over HTTP for
// multimap, with ETag and Last-Modified.
package mta
