package config

// KB is the knowledge base and its editor.
type KB struct {
	// Demo loads the bundled demo articles on first start when the KB is empty (default true).
	Demo *bool `yaml:"demo"`
}

func (k *KB) defaults() {}

// LoadDemo reports whether the demo KB is loaded into an empty KB.
func (k *KB) LoadDemo() bool { return k.Demo == nil || *k.Demo }

func (k *KB) validate() error { return nil }
