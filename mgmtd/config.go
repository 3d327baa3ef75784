// Package mgmtd is the wiring of the daemon: configuration, building the
// model store, the sources and the front-ends, starting them and shutting
// them down in order, and the command-line subcommands. It imports every
// other package of mgmtd and is imported only by cmd/mgmtd and
// integration tests.
package mgmtd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"mgmtd/model"
)

// Config is the daemon's configuration file (YAML). Every field has a
// default; an empty file is a valid configuration for a cluster node.
type Config struct {
	// Cluster names the cluster when Pacemaker does not (no cluster-name).
	Cluster string `yaml:"cluster"`
	// View is the name of the node mgmtd runs on; default: the host name.
	View string `yaml:"view"`
	// Listen is the REST and web page address; default 127.0.0.1:8443.
	Listen string `yaml:"listen"`
	// StateDir keeps mgmtd's state (certificate, tokens, journal).
	StateDir string `yaml:"state_dir"`

	Pacemaker PacemakerConfig `yaml:"pacemaker"`
	Corosync  CorosyncConfig  `yaml:"corosync"`

	// Services is the service catalog: operator-facing names for sets of
	// resources, with an address and how it moves when not derivable.
	Services []ServiceConfig `yaml:"services"`
	// VMMappings link VirtualDomain resources to libvirt domains.
	VMMappings []model.VMMapping `yaml:"vm_mappings"`
	// EventBuffer is how many events are kept for resuming streams.
	EventBuffer int `yaml:"event_buffer"`
}

// PacemakerConfig configures the Pacemaker source.
type PacemakerConfig struct {
	CIBFile         string        `yaml:"cib_file"`
	Interval        time.Duration `yaml:"interval"`
	Timeout         time.Duration `yaml:"timeout"`
	ToolDir         string        `yaml:"tool_dir"`
	ReadConfigFiles *bool         `yaml:"read_config_files"`
}

// CorosyncConfig configures the Corosync source.
type CorosyncConfig struct {
	// Enabled defaults to true on a live cluster and false with a CIB file.
	Enabled  *bool         `yaml:"enabled"`
	Interval time.Duration `yaml:"interval"`
	ToolDir  string        `yaml:"tool_dir"`
}

// ServiceConfig is one entry of the service catalog.
type ServiceConfig struct {
	Name      string   `yaml:"name"`
	Resources []string `yaml:"resources"`
	Address   string   `yaml:"address"`
	Method    string   `yaml:"method"`
}

// LoadConfig reads a configuration file; a missing path means defaults.
func LoadConfig(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.defaults()
	return c, c.Validate()
}

func (c *Config) defaults() {
	if c.View == "" {
		c.View, _ = os.Hostname()
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if c.StateDir == "" {
		c.StateDir = "/var/lib/mgmtd"
	}
	if c.Corosync.Enabled == nil {
		on := c.Pacemaker.CIBFile == ""
		c.Corosync.Enabled = &on
	}
	if c.Pacemaker.ReadConfigFiles == nil {
		on := true
		c.Pacemaker.ReadConfigFiles = &on
	}
}

var validMethods = map[string]bool{"": true, "ip-takeover": true, "clusterip": true, "dns": true, "route": true, "unknown": true}

// Validate checks the configuration and names the offending key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config key listen: %q is not host:port: %w", c.Listen, err)
	}
	if c.Pacemaker.Interval < 0 || (c.Pacemaker.Interval > 0 && c.Pacemaker.Interval < 100*time.Millisecond) {
		return fmt.Errorf("config key pacemaker.interval: %s is below 100ms", c.Pacemaker.Interval)
	}
	if c.Pacemaker.Timeout < 0 {
		return fmt.Errorf("config key pacemaker.timeout: negative")
	}
	if c.EventBuffer < 0 || c.EventBuffer > 1_000_000 {
		return fmt.Errorf("config key event_buffer: %d is outside 0..1000000", c.EventBuffer)
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		if s.Name == "" {
			return fmt.Errorf("config key services[%d].name: empty", i)
		}
		if seen[s.Name] {
			return fmt.Errorf("config key services[%d].name: %q given twice", i, s.Name)
		}
		seen[s.Name] = true
		if len(s.Resources) == 0 {
			return fmt.Errorf("config key services[%d].resources: empty", i)
		}
		if !validMethods[s.Method] {
			return fmt.Errorf("config key services[%d].method: %q is not one of ip-takeover, clusterip, dns, route, unknown", i, s.Method)
		}
	}
	for i, m := range c.VMMappings {
		if m.Resource == "" || m.Domain == "" {
			return fmt.Errorf("config key vm_mappings[%d]: resource and domain are both required", i)
		}
	}
	return nil
}

// servicesPart converts the catalog for the model.
func (c *Config) servicesPart() *model.ServicesPart {
	p := &model.ServicesPart{}
	for _, s := range c.Services {
		p.Services = append(p.Services, model.Service{Name: s.Name, Resources: s.Resources, Address: s.Address, Method: model.AddressMethod(s.Method)})
	}
	return p
}
