// Command devkafka runs franz-go's kfake as a small single-broker Kafka for
// trying mxwarden out on one machine (`make run`). It is one unreplicated
// in-process broker that keeps its topics, offsets and groups in a data
// directory, so a restart keeps them. It is not a production Kafka.
//
//	devkafka [-addr 127.0.0.1:9092] [-data DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("devkafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9092", "listen address (host:port)")
	data := fs.String("data", "", "data directory; empty keeps everything in memory")
	partitions := fs.Int("partitions", 6, "default partitions of auto-created topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("-addr %q: port: %w", *addr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(*partitions),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return (&net.ListenConfig{}).Listen(ctx, network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.Ports(port),
	}
	if *data != "" {
		if err := os.MkdirAll(*data, 0o755); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(*data))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	defer c.Close()
	fmt.Fprintf(stdout, "devkafka: single unreplicated kfake broker on %s (data: %q)\n", c.ListenAddrs()[0], *data)
	<-ctx.Done()
	return nil
}
