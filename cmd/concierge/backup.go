package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

// runBackup writes a consistent copy of the database while the server may be running.
// The search index is not copied: it is rebuilt from the database when missing.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g globals
	g.register(fs)
	out := fs.String("out", "", "file to write the copy to (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usagef("usage: concierge backup --out FILE [--data DIR]")
	}
	e, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	start := time.Now()
	if err := e.store.Backup(ctx, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s in %s\n", e.dataDir, *out, time.Since(start).Round(time.Millisecond))
	return nil
}
