package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// QueueSample is one reading of an MTA's queue, published by ingest on
// every sample interval to the queue topic (key: host). It feeds the
// queue_flood rule and the history; the metrics carry only the counts.
type QueueSample struct {
	V    int       `json:"v"`
	TS   time.Time `json:"ts"`
	MTA  string    `json:"mta"`
	Host string    `json:"host"`
	// Queues counts messages by queue name (Postfix: active, deferred,
	// hold, incoming, maildrop; Exim: "all").
	Queues map[string]int `json:"queues"`
	Total  int            `json:"total"`
	// TopSenders are the senders with the most queued messages, most
	// first (at most 10; only where the MTA tells senders).
	TopSenders []Count `json:"top_senders,omitempty"`
	// TopReasons are the commonest delay reasons of deferred mail.
	TopReasons []Count `json:"top_reasons,omitempty"`
}

// Count is a name and how often it occurred.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// MarshalQueueSample encodes q in the wire form.
func MarshalQueueSample(q *QueueSample) ([]byte, error) {
	c := *q
	c.V = SchemaVersion
	c.TS = c.TS.UTC()
	return json.Marshal(&c)
}

// UnmarshalQueueSample decodes one wire record.
func UnmarshalQueueSample(b []byte) (*QueueSample, error) {
	var q QueueSample
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("%w: %w: decode queue sample: %w", ErrInvalid, ErrDecode, err)
	}
	if q.V > SchemaVersion {
		return nil, fmt.Errorf("queue sample v%d: %w", q.V, ErrUnsupportedVersion)
	}
	if q.TS.IsZero() || q.Total < 0 {
		return nil, fmt.Errorf("%w: queue sample without ts or with negative total", ErrInvalid)
	}
	return &q, nil
}
