package main

import "context"

// setupWeChat wires the wechat feature into the server (see its issue).
func (s *server) setupWeChat(ctx context.Context) error { return nil }
