package main

import (
	"context"
	"errors"
	"io"
)

// Commands whose features are still being built. Each moves to its own file with its feature.

var errNotBuilt = errors.New("not available in this build yet")

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errNotBuilt
}
