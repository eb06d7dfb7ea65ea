// A pipeline written with the Dagger Go SDK, run by tanto's tests under
// `tanto run` and with tanto as the SDK's own engine CLI.
//
// Usage: client chain IMAGE
//
//	client features IMAGE RUN SECRET
package main

import (
	"context"
	"fmt"
	"os"

	"dagger.io/dagger"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx := context.Background()
	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer client.Close()
	switch {
	case len(args) == 2 && args[0] == "chain":
		err = chain(ctx, client, args[1])
	case len(args) == 4 && args[0] == "features":
		err = features(ctx, client, args[1], args[2], args[3])
	default:
		err = fmt.Errorf("usage: client chain IMAGE | client features IMAGE RUN SECRET")
	}
	if err != nil {
		return err
	}
	// Closing ends a session the SDK started itself; it must end cleanly.
	return client.Close()
}
