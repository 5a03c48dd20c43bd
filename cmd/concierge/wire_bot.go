package main

import "context"

// setupBot wires the bot feature into the server (see its issue).
func (s *server) setupBot(ctx context.Context) error { return nil }
