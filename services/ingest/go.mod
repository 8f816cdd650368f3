module github.com/mxwarden/mxwarden/services/ingest

go 1.26.8

require github.com/mxwarden/mxwarden/pkg v0.0.0

replace github.com/mxwarden/mxwarden/pkg => ../../pkg
