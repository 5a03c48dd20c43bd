package main

import "context"

// setupWeb wires the web feature into the server (see its issue).
func (s *server) setupWeb(ctx context.Context) error { return nil }
