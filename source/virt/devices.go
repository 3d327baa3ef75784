package virt

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"mgmtd/model"
)

// domainDevices is what the source reads from a domain's XML description:
// the limits the bulk statistics do not carry and the device lists.
type domainDevices struct {
	MaxVCPUs     int    // the <vcpu> value
	MaxMemoryKiB uint64 // <memory>
	Disks        []model.VMDisk
	NICs         []model.VMNIC
}

// devicesDoc is the subset of a libvirt domain description decoded by
// parseDomainDevices.
type devicesDoc struct {
	XMLName xml.Name `xml:"domain"`
	Memory  struct {
		Value string `xml:",chardata"`
		Unit  string `xml:"unit,attr"`
	} `xml:"memory"`
	VCPU  string `xml:"vcpu"`
	Disks []struct {
		Type   string `xml:"type,attr"`
		Device string `xml:"device,attr"`
		Driver struct {
			Type string `xml:"type,attr"`
		} `xml:"driver"`
		ReadOnly *struct{} `xml:"readonly"`
		Source   *struct {
			File     string `xml:"file,attr"`
			Dev      string `xml:"dev,attr"`
			Dir      string `xml:"dir,attr"`
			Name     string `xml:"name,attr"`
			Pool     string `xml:"pool,attr"`
			Volume   string `xml:"volume,attr"`
			Protocol string `xml:"protocol,attr"`
		} `xml:"source"`
		Target struct {
			Dev string `xml:"dev,attr"`
		} `xml:"target"`
	} `xml:"devices>disk"`
	Interfaces []struct {
		Type string `xml:"type,attr"`
		MAC  struct {
			Address string `xml:"address,attr"`
		} `xml:"mac"`
		Source *struct {
			Network string `xml:"network,attr"`
			Bridge  string `xml:"bridge,attr"`
			Dev     string `xml:"dev,attr"`
		} `xml:"source"`
		Target struct {
			Dev string `xml:"dev,attr"`
		} `xml:"target"`
		Model struct {
			Type string `xml:"type,attr"`
		} `xml:"model"`
	} `xml:"devices>interface"`
}

// parseDomainDevices reads the maximum vCPUs and memory and the disks and
// network interfaces of a libvirt domain description (virsh dumpxml). The
// devices carry -1 in every counter and size: those come from statistics
// calls, not from the XML.
func parseDomainDevices(b []byte) (domainDevices, error) {
	if len(b) > maxXMLBytes {
		return domainDevices{}, &XMLError{Msg: fmt.Sprintf("document of %d bytes exceeds the %d-byte limit", len(b), maxXMLBytes)}
	}
	var doc devicesDoc
	dec := xml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return domainDevices{}, &XMLError{Offset: dec.InputOffset(), Msg: "domain devices: " + err.Error()}
	}
	var out domainDevices
	if s := strings.TrimSpace(doc.VCPU); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return domainDevices{}, &XMLError{Msg: fmt.Sprintf("bad vcpu count %q", s)}
		}
		out.MaxVCPUs = n
	}
	if s := strings.TrimSpace(doc.Memory.Value); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return domainDevices{}, &XMLError{Msg: fmt.Sprintf("bad memory %q", s)}
		}
		if out.MaxMemoryKiB, err = toKiB(v, doc.Memory.Unit); err != nil {
			return domainDevices{}, &XMLError{Msg: err.Error()}
		}
	}
	for _, d := range doc.Disks {
		disk := model.VMDisk{Target: d.Target.Dev, Device: d.Device, Type: d.Type, Format: d.Driver.Type, ReadOnly: d.ReadOnly != nil,
			CapacityBytes: -1, AllocationBytes: -1, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1}
		if disk.Device == "" {
			disk.Device = "disk"
		}
		if s := d.Source; s != nil {
			switch {
			case s.File != "":
				disk.Source = s.File
			case s.Dev != "":
				disk.Source = s.Dev
			case s.Dir != "":
				disk.Source = s.Dir
			case s.Pool != "" || s.Volume != "":
				disk.Source = s.Pool + "/" + s.Volume
			case s.Protocol != "" && s.Name != "":
				disk.Source = s.Protocol + ":" + s.Name
			default:
				disk.Source = s.Name
			}
		}
		out.Disks = append(out.Disks, disk)
	}
	for _, i := range doc.Interfaces {
		nic := model.VMNIC{Target: i.Target.Dev, MAC: strings.ToLower(i.MAC.Address), Type: i.Type, Model: i.Model.Type,
			RxBytes: -1, RxPackets: -1, TxBytes: -1, TxPackets: -1}
		if s := i.Source; s != nil {
			switch {
			case s.Network != "":
				nic.Source = s.Network
			case s.Bridge != "":
				nic.Source = s.Bridge
			default:
				nic.Source = s.Dev
			}
		}
		out.NICs = append(out.NICs, nic)
	}
	return out, nil
}

// deviceStats are the per-device and per-vCPU values of one domain's bulk
// statistics (groups vcpu, block and interface).
type deviceStats struct {
	maxVCPUs, maxMemKiB uint64
	vcpuTime            map[int]uint64
	block               map[int]map[string]uint64 // block.N.<field>
	blockName           map[int]string
	net                 map[int]map[string]uint64
	netName             map[int]string
	hasBlock, hasNet    bool
}

// addParam records one bulk statistics field of the vcpu, balloon, block
// or interface group (str when the value is a string); others are ignored.
func (s *deviceStats) addParam(field string, v uint64, str string, isStr bool) {
	group, rest, ok := strings.Cut(field, ".")
	if !ok {
		return
	}
	switch {
	case field == "vcpu.maximum" && !isStr:
		s.maxVCPUs = v
		return
	case field == "balloon.maximum" && !isStr:
		s.maxMemKiB = v
		return
	case field == "block.count":
		s.hasBlock = true
		return
	case field == "net.count":
		s.hasNet = true
		return
	}
	idx, sub, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 || n > 1<<16 {
		return
	}
	switch group {
	case "vcpu":
		if sub == "time" && !isStr {
			if s.vcpuTime == nil {
				s.vcpuTime = map[int]uint64{}
			}
			s.vcpuTime[n] = v
		}
	case "block", "net":
		names, vals := &s.blockName, &s.block
		if group == "net" {
			names, vals = &s.netName, &s.net
		}
		if sub == "name" && isStr {
			if *names == nil {
				*names = map[int]string{}
			}
			(*names)[n] = str
			return
		}
		if isStr {
			return
		}
		if *vals == nil {
			*vals = map[int]map[string]uint64{}
		}
		if (*vals)[n] == nil {
			(*vals)[n] = map[string]uint64{}
		}
		(*vals)[n][sub] = v
	}
}

// cpus returns the per-vCPU times, ordered by vCPU number.
func (s *deviceStats) cpus() []model.VMCPU {
	if len(s.vcpuTime) == 0 {
		return nil
	}
	out := make([]model.VMCPU, 0, len(s.vcpuTime))
	for n, t := range s.vcpuTime {
		out = append(out, model.VMCPU{Index: n, Time: time.Duration(min(t, 1<<63-1))})
	}
	sortCPUs(out)
	return out
}

func sortCPUs(c []model.VMCPU) {
	slices.SortFunc(c, func(a, b model.VMCPU) int { return cmp.Compare(a.Index, b.Index) })
}

// counter converts a statistics value to the model's int64, where -1 is
// "unknown".
func counter(m map[string]uint64, key string) int64 {
	v, ok := m[key]
	if !ok {
		return -1
	}
	return int64(min(v, 1<<63-1))
}

// apply fills the disks' and NICs' counters from the bulk statistics,
// matching devices by target name. It reports whether the statistics had
// the block and interface groups at all.
func (s *deviceStats) apply(disks []model.VMDisk, nics []model.VMNIC) (haveBlock, haveNet bool) {
	for n, name := range s.blockName {
		m := s.block[n]
		for i := range disks {
			if disks[i].Target != name {
				continue
			}
			d := &disks[i]
			d.CapacityBytes, d.AllocationBytes = counter(m, "capacity"), counter(m, "allocation")
			d.ReadRequests, d.ReadBytes = counter(m, "rd.reqs"), counter(m, "rd.bytes")
			d.WriteRequests, d.WriteBytes = counter(m, "wr.reqs"), counter(m, "wr.bytes")
		}
	}
	for n, name := range s.netName {
		m := s.net[n]
		for i := range nics {
			if nics[i].Target != name {
				continue
			}
			c := &nics[i]
			c.RxBytes, c.RxPackets = counter(m, "rx.bytes"), counter(m, "rx.pkts")
			c.TxBytes, c.TxPackets = counter(m, "tx.bytes"), counter(m, "tx.pkts")
		}
	}
	return s.hasBlock, s.hasNet
}

// unknownCounters returns copies of disks and nics with every counter
// unknown (-1): the devices of a VM on an unreachable host are still
// listed, their last counters are not reported as current.
func unknownCounters(disks []model.VMDisk, nics []model.VMNIC) ([]model.VMDisk, []model.VMNIC) {
	d := slices.Clone(disks)
	for i := range d {
		d[i].ReadRequests, d[i].ReadBytes, d[i].WriteRequests, d[i].WriteBytes = -1, -1, -1, -1
	}
	n := slices.Clone(nics)
	for i := range n {
		n[i].RxBytes, n[i].RxPackets, n[i].TxBytes, n[i].TxPackets = -1, -1, -1, -1
	}
	return d, n
}
