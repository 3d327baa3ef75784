package cim

import (
	"fmt"

	"mgmtd/wbem"
	"mgmtd/wbem/cimxml"
)

// The schema of the cluster model: the DMTF CIM 2.41 classes the model
// derives from (names, key properties, inheritance and the ValueMap/Values
// of the properties used, as in the DMTF MOF; descriptions shortened), and
// the MGMTD_ vendor classes. Written from the DMTF class model; nothing is
// generated from MOF files.

// Namespaces served by the model provider.
const (
	// ModelNamespace holds the cluster model.
	ModelNamespace = "root/cimv2"
	// InteropNamespace holds the object manager, namespaces, registered
	// profiles and indication subscriptions (DSP1033, DSP1054).
	InteropNamespace = "interop"
	// ClassPrefix is the schema prefix of mgmtd's vendor classes.
	ClassPrefix = "MGMTD_"
)

// Vendor class names.
const (
	ClassCluster              = "MGMTD_Cluster"
	ClassComputerSystem       = "MGMTD_ComputerSystem"
	ClassParticipatingCS      = "MGMTD_ParticipatingCS"
	ClassClusteringService    = "MGMTD_ClusteringService"
	ClassHostedClusterService = "MGMTD_HostedClusterService"
	ClassHostedService        = "MGMTD_HostedService"
	ClassResource             = "MGMTD_ClusterResource"
	ClassResourceGroup        = "MGMTD_ResourceGroup"
	ClassResourceClone        = "MGMTD_ResourceClone"
	ClassResourceBundle       = "MGMTD_ResourceBundle"
	ClassFencingDevice        = "MGMTD_FencingDevice"
	ClassActiveOn             = "MGMTD_ResourceActiveOn"
	ClassServiceComponent     = "MGMTD_ServiceComponent"
	ClassOrderDependency      = "MGMTD_ServiceServiceDependency"
	ClassHostedDependency     = "MGMTD_HostedDependency"
	ClassAffectsElement       = "MGMTD_ServiceAffectsElement"
	ClassMigrationService     = "MGMTD_VirtualSystemMigrationService"
	ClassConcreteJob          = "MGMTD_ConcreteJob"
	ClassCapabilities         = "MGMTD_EnabledLogicalElementCapabilities"
	ClassElementCapabilities  = "MGMTD_ElementCapabilities"
	ClassSoftwareIdentity     = "MGMTD_SoftwareIdentity"
	ClassInstalledSoftware    = "MGMTD_InstalledSoftwareIdentity"
	ClassConformsToProfile    = "MGMTD_ElementConformsToProfile"
	ClassObjectManager        = "MGMTD_ObjectManager"
	ClassInstModification     = "MGMTD_InstModification"
	ClassAlertIndication      = "MGMTD_AlertIndication"
	ClassDRBDResource         = "MGMTD_DRBDResource"
	ClassDRBDReplica          = "MGMTD_DRBDReplica"
)

func mProp(name, typ string, q ...wbem.Qualifier) wbem.Property {
	return wbem.Property{Name: name, Type: typ, Null: true, Qualifiers: q}
}

func mKey(name, typ string, q ...wbem.Qualifier) wbem.Property {
	return mProp(name, typ, append([]wbem.Qualifier{wbem.BoolQualifier("Key")}, q...)...)
}

func mArr(name, typ string, q ...wbem.Qualifier) wbem.Property {
	return wbem.Property{Name: name, Type: typ, Array: true, Null: true, Qualifiers: q}
}

func mRef(name, class string, q ...wbem.Qualifier) wbem.Property {
	return wbem.Property{Name: name, Type: cimxml.TypeReference, RefClass: class, Null: true, Qualifiers: q}
}

func mRefKey(name, class string, q ...wbem.Qualifier) wbem.Property {
	return mRef(name, class, append([]wbem.Qualifier{wbem.BoolQualifier("Key")}, q...)...)
}

func mDesc(s string) wbem.Qualifier { return wbem.StringQualifier("Description", s) }

func qs(q ...any) []wbem.Qualifier {
	var out []wbem.Qualifier
	for _, x := range q {
		switch v := x.(type) {
		case wbem.Qualifier:
			out = append(out, v)
		case []wbem.Qualifier:
			out = append(out, v...)
		}
	}
	return out
}

func in(name, typ string, q ...any) wbem.Parameter {
	return wbem.Parameter{Name: name, Type: typ, Qualifiers: qs(append([]any{wbem.BoolQualifier("In")}, q...)...)}
}

func inRef(name, class string, q ...any) wbem.Parameter {
	return wbem.Parameter{Name: name, Type: cimxml.TypeReference, RefClass: class, Qualifiers: qs(append([]any{wbem.BoolQualifier("In")}, q...)...)}
}

func jobOut() wbem.Parameter {
	return wbem.Parameter{Name: "Job", Type: cimxml.TypeReference, RefClass: "CIM_ConcreteJob",
		Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("In"), wbem.BoolQualifier("Out"), mDesc("Reference to the job (may be null if the task is completed).")}}
}

var (
	vmEnabledState = wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Enabled", "3", "Disabled", "4", "Shutting Down",
		"5", "Not Applicable", "6", "Enabled but Offline", "7", "In Test", "8", "Deferred", "9", "Quiesce", "10", "Starting",
		"11..32767", "DMTF Reserved", "32768..65535", "Vendor Reserved")
	vmRequestedState = wbem.ValueMap("0", "Unknown", "2", "Enabled", "3", "Disabled", "4", "Shut Down", "5", "No Change",
		"6", "Offline", "7", "Test", "8", "Deferred", "9", "Quiesce", "10", "Reboot", "11", "Reset", "12", "Not Applicable",
		"13..32767", "DMTF Reserved", "32768..65535", "Vendor Reserved")
	vmOperationalStatus = wbem.ValueMap("0", "Unknown", "1", "Other", "2", "OK", "3", "Degraded", "4", "Stressed",
		"5", "Predictive Failure", "6", "Error", "7", "Non-Recoverable Error", "8", "Starting", "9", "Stopping",
		"10", "Stopped", "11", "In Service", "12", "No Contact", "13", "Lost Communication", "14", "Aborted",
		"15", "Dormant", "16", "Supporting Entity in Error", "17", "Completed", "18", "Power Mode", "19", "Relocating",
		"..", "DMTF Reserved", "0x8000..", "Vendor Reserved")
	vmHealthState = wbem.ValueMap("0", "Unknown", "5", "OK", "10", "Degraded/Warning", "15", "Minor failure",
		"20", "Major failure", "25", "Critical failure", "30", "Non-recoverable error", "..", "DMTF Reserved", "32768..65535", "Vendor Specific")
	rscReturn = wbem.ValueMap("0", "Completed with No Error", "1", "Not Supported", "2", "Unknown or Unspecified Error",
		"3", "Cannot complete within Timeout Period", "4", "Failed", "5", "Invalid Parameter", "6", "In Use",
		"7..4095", "DMTF Reserved", "4096", "Method Parameters Checked - Job Started", "4097", "Invalid State Transition",
		"4098", "Use of Timeout Parameter Not Supported", "4099", "Busy", "4100..32767", "Method Reserved", "32768..65535", "Vendor Specific")
	vendorReturn = wbem.ValueMap("0", "Completed with No Error", "1", "Not Supported", "2", "Unknown or Unspecified Error",
		"4", "Failed", "5", "Invalid Parameter", "4096", "Method Parameters Checked - Job Started", "4097", "Invalid State Transition",
		"4099", "Busy")
	orgMap = wbem.ValueMap("1", "Other", "2", "DMTF", "3", "CompTIA", "4", "Consortium for Service Innovation", "5", "FAST",
		"6", "GGF", "7", "INTAP", "8", "itSMF", "9", "NAC", "10", "Northwest Energy Efficiency Alliance", "11", "SNIA",
		"12", "TM Forum", "13", "The Open Group", "14", "ANSI", "15", "IEEE", "16", "IETF", "17", "INCITS", "18", "ISO",
		"19", "W3C", "20", "OGF", "21", "The Green Grid", "22", "OASIS", "23", "JEDEC", "..", "DMTF Reserved", "0x8000..", "Vendor Reserved")
	alertTypeMap = wbem.ValueMap("1", "Other", "2", "Communications Alert", "3", "Quality of Service Alert", "4", "Processing Error",
		"5", "Device Alert", "6", "Environmental Alert", "7", "Model Change", "8", "Security Alert")
	severityMap = wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Information", "3", "Degraded/Warning", "4", "Minor",
		"5", "Major", "6", "Critical", "7", "Fatal/NonRecoverable", "..", "DMTF Reserved")
)

// coreClasses are the DMTF classes both namespaces need.
func coreClasses() []*wbem.Class {
	return []*wbem.Class{
		{Name: "CIM_ManagedElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0"),
			mDesc("ManagedElement is an abstract class that provides a common superclass (or top of the inheritance tree) for the non-association classes in the CIM Schema.")},
			Properties: []wbem.Property{mProp("InstanceID", "string"), mProp("Caption", "string", wbem.Qualifier{Name: "MaxLen", Type: "uint32", Value: "64"}),
				mProp("Description", "string"), mProp("ElementName", "string")}},
		{Name: "CIM_ManagedSystemElement", Superclass: "CIM_ManagedElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0")},
			Properties: []wbem.Property{mProp("InstallDate", "datetime"), mProp("Name", "string"),
				mArr("OperationalStatus", "uint16", vmOperationalStatus...), mArr("StatusDescriptions", "string"),
				mProp("HealthState", "uint16", vmHealthState...)}},
		{Name: "CIM_LogicalElement", Superclass: "CIM_ManagedSystemElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0")}},
		{Name: "CIM_EnabledLogicalElement", Superclass: "CIM_LogicalElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0"),
			mDesc("This class extends LogicalElement to abstract the concept of an element that is enabled and disabled.")},
			Properties: []wbem.Property{mProp("EnabledState", "uint16", vmEnabledState...), mProp("OtherEnabledState", "string"),
				mProp("RequestedState", "uint16", vmRequestedState...),
				mProp("EnabledDefault", "uint16", wbem.ValueMap("2", "Enabled", "3", "Disabled", "5", "Not Applicable", "6", "Enabled but Offline", "7", "No Default", "9", "Quiesce")...),
				mProp("TimeOfLastStateChange", "datetime")},
			Methods: []wbem.Method{{Name: "RequestStateChange", Type: "uint32", Qualifiers: append([]wbem.Qualifier{mDesc("Requests that the state of the element be changed to the value specified in the RequestedState parameter.")}, rscReturn...),
				Parameters: []wbem.Parameter{
					in("RequestedState", "uint16", wbem.ValueMap("2", "Enabled", "3", "Disabled", "4", "Shut Down", "6", "Offline", "7", "Test",
						"8", "Defer", "9", "Quiesce", "10", "Reboot", "11", "Reset", "..", "DMTF Reserved", "32768..65535", "Vendor Reserved")),
					jobOut(),
					in("TimeoutPeriod", "datetime"),
				}}}},
		{Name: "CIM_System", Superclass: "CIM_EnabledLogicalElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0")},
			Properties: []wbem.Property{mKey("CreationClassName", "string"), mKey("Name", "string"), mProp("NameFormat", "string"),
				mProp("PrimaryOwnerName", "string"), mArr("Roles", "string")}},
		{Name: "CIM_ComputerSystem", Superclass: "CIM_System", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A class derived from System that is a special collection of ManagedSystemElements.")},
			Properties: []wbem.Property{mArr("Dedicated", "uint16", wbem.ValueMap("0", "Not Dedicated", "1", "Unknown", "2", "Other", "3", "Storage",
				"4", "Router", "5", "Switch", "6", "Layer 3 Switch", "7", "Central Office Switch", "8", "Hub", "9", "Access Server",
				"10", "Firewall", "11", "Print", "12", "I/O", "13", "Web Caching", "14", "Management", "15", "Block Server",
				"16", "File Server", "17", "Mobile User Device", "18", "Repeater", "19", "Bridge/Extender", "20", "Gateway",
				"21", "Storage Virtualizer", "22", "Media Library", "23", "ExtenderNode", "24", "NAS Head", "25", "Self-contained NAS",
				"26", "UPS", "27", "IP Phone", "28", "Management Controller", "29", "Chassis Manager", "30", "Host-based RAID controller",
				"31", "Storage Device Enclosure", "32", "Desktop", "33", "Laptop", "34", "Virtual Tape Library", "35", "Virtual Library System",
				"36", "Network PC/Thin Client", "37", "FC Switch", "38", "Ethernet Switch", "..", "DMTF Reserved", "32568..65535", "Vendor Reserved")...),
				mArr("OtherDedicatedDescriptions", "string")}},
		{Name: "CIM_Service", Superclass: "CIM_EnabledLogicalElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A Service is a LogicalElement that represents the availability of functionality that can be managed.")},
			Properties: []wbem.Property{mKey("SystemCreationClassName", "string", wbem.StringQualifier("Propagated", "CIM_System.CreationClassName")),
				mKey("SystemName", "string", wbem.StringQualifier("Propagated", "CIM_System.Name")),
				mKey("CreationClassName", "string"), mKey("Name", "string"), mProp("PrimaryOwnerName", "string"), mProp("Started", "boolean")}},
		{Name: "CIM_Job", Superclass: "CIM_LogicalElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0")},
			Properties: []wbem.Property{mProp("JobStatus", "string"), mProp("TimeSubmitted", "datetime"), mProp("ElapsedTime", "datetime"),
				mProp("PercentComplete", "uint16", wbem.StringQualifier("PUnit", "percent")), mProp("DeleteOnCompletion", "boolean"),
				mProp("ErrorCode", "uint16"), mProp("ErrorDescription", "string"), mProp("Owner", "string")}},
		{Name: "CIM_ConcreteJob", Superclass: "CIM_Job", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A concrete version of Job: a unit of work the server executes asynchronously.")},
			Properties: []wbem.Property{mKey("InstanceID", "string"), mProp("Name", "string", wbem.BoolQualifier("Required")),
				mProp("JobState", "uint16", wbem.ValueMap("2", "New", "3", "Starting", "4", "Running", "5", "Suspended", "6", "Shutting Down",
					"7", "Completed", "8", "Terminated", "9", "Killed", "10", "Exception", "11", "Service", "12", "Query Pending",
					"13..32767", "DMTF Reserved", "32768..65535", "Vendor Reserved")...),
				mProp("TimeOfLastStateChange", "datetime"), mProp("TimeBeforeRemoval", "datetime")}},
		{Name: "CIM_RegisteredProfile", Superclass: "CIM_ManagedElement", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A RegisteredProfile describes a set of CIM Schema classes with required properties and/or methods, necessary to manage a real-world entity or to support a usage scenario.")},
			Properties: []wbem.Property{mKey("InstanceID", "string"),
				mProp("RegisteredOrganization", "uint16", append([]wbem.Qualifier{wbem.BoolQualifier("Required")}, orgMap...)...),
				mProp("OtherRegisteredOrganization", "string"), mProp("RegisteredName", "string", wbem.BoolQualifier("Required")),
				mProp("RegisteredVersion", "string", wbem.BoolQualifier("Required")),
				mArr("AdvertiseTypes", "uint16", append([]wbem.Qualifier{wbem.BoolQualifier("Required")}, wbem.ValueMap("1", "Other", "2", "Not Advertised", "3", "SLP", "..", "DMTF Reserved")...)...),
				mArr("AdvertiseTypeDescriptions", "string"), mProp("ImplementedFeatures", "string")}},
		{Name: "CIM_ElementConformsToProfile", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Association"), wbem.StringQualifier("Version", "2.41.0"),
			mDesc("The ElementConformsToProfile association defines the RegisteredProfiles to which the referenced ManagedElement is conformant.")},
			Properties: []wbem.Property{mRefKey("ConformantStandard", "CIM_RegisteredProfile"), mRefKey("ManagedElement", "CIM_ManagedElement")}},
		{Name: ClassConformsToProfile, Superclass: "CIM_ElementConformsToProfile", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Association"),
			mDesc("mgmtd: a central instance conforms to a registered profile; served in both the interop and the model namespace (DSP1033).")}},
	}
}

// modelClasses are the model namespace's classes after coreClasses.
func modelClasses() []*wbem.Class {
	assoc := func(name, super, d string, props ...wbem.Property) *wbem.Class {
		q := []wbem.Qualifier{wbem.BoolQualifier("Association")}
		if super == "" {
			q = append(q, wbem.StringQualifier("Version", "2.41.0"))
		}
		if d != "" {
			q = append(q, mDesc(d))
		}
		return &wbem.Class{Name: name, Superclass: super, Qualifiers: q, Properties: props}
	}
	abstractAssoc := func(c *wbem.Class) *wbem.Class {
		c.Qualifiers = append(c.Qualifiers, wbem.BoolQualifier("Abstract"))
		return c
	}
	aggregation := func(c *wbem.Class) *wbem.Class {
		c.Qualifiers = append(c.Qualifiers, wbem.BoolQualifier("Aggregation"))
		return c
	}
	return []*wbem.Class{
		// DMTF classes.
		{Name: "CIM_Collection", Superclass: "CIM_ManagedElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0"),
			mDesc("Collection is an abstract class that provides a common superclass for data elements that represent collections of ManagedElements and its subclasses.")}},
		{Name: "CIM_SystemSpecificCollection", Superclass: "CIM_Collection", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("SystemSpecificCollection represents the general concept of a collection that is scoped (or contained) by a System.")},
			Properties: []wbem.Property{mKey("InstanceID", "string")}},
		{Name: "CIM_RedundancySet", Superclass: "CIM_SystemSpecificCollection", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A class derived from SystemSpecificCollection that is a special collection of ManagedElements. This collection indicates that the aggregated elements together provide redundancy, or that redundancy is provided via sparing.")},
			Properties: []wbem.Property{
				mProp("RedundancyStatus", "uint16", wbem.ValueMap("0", "Unknown", "1", "DMTF Reserved", "2", "Fully Redundant", "3", "Degraded Redundancy",
					"4", "Redundancy Lost", "5", "Overall Failure", "..", "DMTF Reserved")...),
				mArr("TypeOfSet", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "N+1", "3", "Load Balanced", "4", "Sparing",
					"5", "Limited Sparing", "..", "DMTF Reserved", "0x8000..", "Vendor Reserved")...),
				mProp("MinNumberNeeded", "uint32"), mProp("MaxNumberSupported", "uint32"), mProp("VendorIdentifyingInfo", "string"),
				mArr("OtherTypeOfSet", "string")}},
		aggregation(assoc("CIM_MemberOfCollection", "", "MemberOfCollection is an aggregation used to establish membership of ManagedElements in a Collection.",
			mRefKey("Collection", "CIM_Collection", wbem.BoolQualifier("Aggregate")), mRefKey("Member", "CIM_ManagedElement"))),
		{Name: "CIM_Cluster", Superclass: "CIM_ComputerSystem", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A class derived from ComputerSystem that 'is made up of' two or more ComputerSystems which operate together as an atomic, functional whole.")},
			Properties: []wbem.Property{mProp("Interconnect", "string"), mProp("InterconnectAddress", "string"),
				mArr("Types", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Failover", "3", "Performance", "4", "Distributed OS",
					"5", "Node Grouping", "6", "SysPlex")...),
				mProp("MaxNumberOfNodes", "uint32"),
				mProp("ClusterState", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "On-line", "3", "Off-line", "4", "Degraded", "5", "Unavailable")...)}},
		{Name: "CIM_ClusteringService", Superclass: "CIM_Service", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("ClusteringService represents the functionality provided by a Cluster.")},
			Methods: []wbem.Method{
				{Name: "AddNode", Type: "uint32", Qualifiers: wbem.ValueMap("0", "Success", "1", "Not Supported"), Parameters: []wbem.Parameter{inRef("CS", "CIM_ComputerSystem")}},
				{Name: "EvictNode", Type: "uint32", Qualifiers: wbem.ValueMap("0", "Success", "1", "Not Supported"), Parameters: []wbem.Parameter{inRef("CS", "CIM_ComputerSystem")}},
			}},
		{Name: "CIM_VirtualSystemMigrationService", Superclass: "CIM_Service", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.17.0"), wbem.BoolQualifier("Experimental"),
			mDesc("Service to migrate virtual systems to a virtualization platform.")},
			Methods: []wbem.Method{
				{Name: "MigrateVirtualSystemToHost", Type: "uint32", Qualifiers: wbem.ValueMap("0", "Completed with No Error", "1", "Not Supported", "2", "Failed",
					"3", "Timeout", "4", "Invalid Parameter", "5", "Invalid State", "6", "Incompatible Parameters", "..", "DMTF Reserved",
					"4096", "Method Parameters Checked - Job Started", "4097..32767", "Method Reserved", "32768..65535", "Vendor Specific"),
					Parameters: []wbem.Parameter{inRef("ComputerSystem", "CIM_ComputerSystem"), in("DestinationHost", "string"),
						in("MigrationSettingData", "string", wbem.StringQualifier("EmbeddedInstance", "CIM_VirtualSystemMigrationSettingData")),
						in("NewSystemSettingData", "string"), {Name: "NewResourceSettingData", Type: "string", Array: true, Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("In")}},
						jobOut()}},
				{Name: "CheckVirtualSystemIsMigratableToHost", Type: "uint32", Qualifiers: wbem.ValueMap("0", "Completed with No Error", "1", "Not Supported", "2", "Failed", "4", "Invalid Parameter"),
					Parameters: []wbem.Parameter{inRef("ComputerSystem", "CIM_ComputerSystem"), in("DestinationHost", "string"),
						in("MigrationSettingData", "string"), in("NewSystemSettingData", "string"),
						{Name: "NewResourceSettingData", Type: "string", Array: true, Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("In")}},
						{Name: "IsMigratable", Type: "boolean", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Out")}}}},
			}},
		{Name: "CIM_Capabilities", Superclass: "CIM_ManagedElement", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0")},
			Properties: []wbem.Property{mKey("InstanceID", "string"), mProp("ElementName", "string", wbem.BoolQualifier("Required"))}},
		{Name: "CIM_EnabledLogicalElementCapabilities", Superclass: "CIM_Capabilities", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("EnabledLogicalElementCapabilities describes the capabilities supported for changing the state of the associated EnabledLogicalElement.")},
			Properties: []wbem.Property{mProp("ElementNameEditSupported", "boolean"),
				mArr("RequestedStatesSupported", "uint16", wbem.ValueMap("2", "Enabled", "3", "Disabled", "4", "Shut Down", "6", "Offline",
					"7", "Test", "8", "Defer", "9", "Quiesce", "10", "Reboot", "11", "Reset", "..", "DMTF Reserved")...)}},
		{Name: "CIM_SoftwareIdentity", Superclass: "CIM_LogicalElement", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("SoftwareIdentity provides descriptive information about a software component.")},
			Properties: []wbem.Property{mKey("InstanceID", "string"), mProp("MajorVersion", "uint16"), mProp("MinorVersion", "uint16"),
				mProp("RevisionNumber", "uint16"), mProp("BuildNumber", "uint16"), mProp("VersionString", "string"),
				mProp("Manufacturer", "string"), mArr("Classifications", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Driver",
					"3", "Configuration Software", "4", "Application Software", "5", "Instrumentation", "6", "Firmware/BIOS",
					"7", "Diagnostic Software", "8", "Operating System", "9", "Middleware", "10", "Firmware", "11", "BIOS/FCode",
					"12", "Support/Service Pack", "13", "Software Bundle", "..", "DMTF Reserved", "0x8000..0xFFFF", "Vendor Reserved")...)}},
		abstractAssoc(assoc("CIM_Dependency", "", "CIM_Dependency is a generic association used to establish dependency relationships between ManagedElements.",
			mRefKey("Antecedent", "CIM_ManagedElement"), mRefKey("Dependent", "CIM_ManagedElement"))),
		abstractAssoc(aggregation(assoc("CIM_Component", "", "CIM_Component is a generic association used to establish 'part of' relationships between Managed Elements.",
			mRefKey("GroupComponent", "CIM_ManagedElement", wbem.BoolQualifier("Aggregate")), mRefKey("PartComponent", "CIM_ManagedElement")))),
		assoc("CIM_ParticipatingCS", "CIM_Dependency", "A Cluster is composed of two or more ComputerSystems, operating together.",
			mRefKey("Antecedent", "CIM_ComputerSystem"), mRefKey("Dependent", "CIM_Cluster"),
			mProp("StateOfNode", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Joining", "3", "Paused", "4", "Available",
				"5", "Unavailable", "6", "Degraded", "..", "DMTF Reserved", "32768..65535", "Vendor Reserved")...),
			mProp("RoleOfNode", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Peer", "3", "Primary", "4", "Secondary",
				"5", "Standby", "..", "DMTF Reserved", "32768..65535", "Vendor Reserved")...),
			mProp("OtherRoleOfNode", "string")),
		assoc("CIM_HostedDependency", "CIM_Dependency", "HostedDependency defines a ManagedElement in the context of another ManagedElement in which it resides.",
			mRefKey("Antecedent", "CIM_ManagedElement", wbem.StringQualifier("Max", "1")), mRefKey("Dependent", "CIM_ManagedElement")),
		assoc("CIM_HostedService", "CIM_HostedDependency", "CIM_HostedService is an association between a Service and the System on which the functionality is located.",
			mRefKey("Antecedent", "CIM_System", wbem.StringQualifier("Max", "1"), wbem.StringQualifier("Min", "1")),
			mRefKey("Dependent", "CIM_Service", wbem.BoolQualifier("Weak"))),
		assoc("CIM_HostedClusterService", "CIM_HostedService", "HostedClusterService defines the hosting Cluster for a ClusteringService.",
			mRefKey("Antecedent", "CIM_ComputerSystem", wbem.StringQualifier("Max", "1"), wbem.StringQualifier("Min", "1")),
			mRefKey("Dependent", "CIM_ClusteringService", wbem.BoolQualifier("Weak"))),
		aggregation(assoc("CIM_ServiceComponent", "CIM_Component", "The ServiceComponent aggregation models a set of subordinate Services that are aggregated together to form a higher-level service.",
			mRefKey("GroupComponent", "CIM_Service", wbem.BoolQualifier("Aggregate")), mRefKey("PartComponent", "CIM_Service"))),
		assoc("CIM_ProvidesServiceToElement", "CIM_Dependency", "Service availability to a ManagedElement.",
			mRefKey("Antecedent", "CIM_Service"), mRefKey("Dependent", "CIM_ManagedElement")),
		assoc("CIM_ServiceServiceDependency", "CIM_ProvidesServiceToElement", "CIM_ServiceServiceDependency is an association between a Service and another Service, indicating that the latter cooperates with the former, is required to start, or is required to be stopped.",
			mRefKey("Antecedent", "CIM_Service"), mRefKey("Dependent", "CIM_Service"),
			mProp("TypeOfDependency", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Service Must Have Completed",
				"3", "Service Must Be Started", "4", "Service Must Not Be Started", "5", "Cooperate")...),
			mProp("RestartService", "boolean")),
		assoc("CIM_ServiceAffectsElement", "", "Service Affects Element represents an association between a Service and the ManagedElements that might be affected by its execution.",
			mRefKey("AffectedElement", "CIM_ManagedElement"), mRefKey("AffectingElement", "CIM_Service"),
			mArr("ElementEffects", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "Exclusive Use", "3", "Performance Impact",
				"4", "Element Integrity", "5", "Manages", "6", "Consumes", "7", "Enhances Integrity", "8", "Degrades Integrity",
				"9", "Enhances Performance", "10", "Degrades Performance")...),
			mArr("OtherElementEffectsDescriptions", "string")),
		assoc("CIM_ElementCapabilities", "", "ElementCapabilities represents the association between ManagedElements and their Capabilities.",
			mRefKey("ManagedElement", "CIM_ManagedElement", wbem.StringQualifier("Min", "1")), mRefKey("Capabilities", "CIM_Capabilities"),
			mArr("Characteristics", "uint16", wbem.ValueMap("2", "Default", "3", "Current", "..", "DMTF Reserved")...)),
		assoc("CIM_InstalledSoftwareIdentity", "", "The InstalledSoftwareIdentity association identifies the System on which a SoftwareIdentity is installed.",
			mRefKey("System", "CIM_System"), mRefKey("InstalledSoftware", "CIM_SoftwareIdentity")),

		// mgmtd classes.
		{Name: ClassCluster, Superclass: "CIM_Cluster", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: a Pacemaker/Corosync cluster. Name is the cluster name.")},
			Properties: []wbem.Property{
				mProp("Quorate", "boolean"), mProp("DCNode", "string", mDesc("Name of the Designated Controller node.")),
				mProp("ExpectedVotes", "uint32"), mProp("TotalVotes", "uint32"), mProp("NoQuorumPolicy", "string"),
				mProp("StonithEnabled", "boolean"), mProp("SymmetricCluster", "boolean"), mProp("MaintenanceMode", "boolean"),
				mProp("PacemakerVersion", "string"), mProp("CorosyncVersion", "string"), mProp("CIBEpoch", "string"),
				mProp("NodesConfigured", "uint32"), mProp("ResourcesConfigured", "uint32"),
				mProp("Stale", "boolean", mDesc("TRUE when a source of the picture is not current.")),
				mProp("Generation", "uint64", mDesc("Generation of the model snapshot this instance was built from."))}},
		{Name: ClassComputerSystem, Superclass: "CIM_ComputerSystem", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: a cluster node, a hypervisor host or a virtual machine. A node that is also a hypervisor host, or a VM that is also a guest node of the same name, is one instance. Name is the node, host or libvirt domain name.")},
			Properties: []wbem.Property{
				mProp("IsClusterNode", "boolean"),
				mProp("NodeType", "uint16", wbem.ValueMap("0", "Not a Node", "2", "Member", "3", "Remote", "4", "Guest")...),
				mProp("NodeState", "uint16", wbem.ValueMap("0", "Not a Node", "2", "Online", "3", "Standby", "4", "Maintenance",
					"5", "Pending", "6", "Offline", "7", "Unclean", "8", "Shutdown")...),
				mProp("NodeID", "string"), mProp("IsDC", "boolean"), mProp("Standby", "boolean"), mProp("Maintenance", "boolean"),
				mProp("Unclean", "boolean"), mProp("ResourcesRunning", "uint32"), mProp("ContainerResource", "string"),
				mProp("IsHypervisor", "boolean"), mProp("HypervisorURI", "string"), mProp("HypervisorType", "string"),
				mProp("LibvirtVersion", "string"), mProp("Reachable", "boolean"), mProp("NumberOfCPUs", "uint32"),
				mProp("MemoryKiB", "uint64", wbem.StringQualifier("PUnit", "byte * 2^10")),
				mProp("IsVirtualSystem", "boolean"), mProp("UUID", "string"),
				mProp("DomainState", "uint16", wbem.ValueMap("0", "Not a VM", "1", "Unknown", "2", "Running", "3", "Blocked", "4", "Paused",
					"5", "Shutdown", "6", "Shutoff", "7", "Crashed", "8", "PM Suspended")...),
				mProp("HostSystem", "string", mDesc("Name of the host a VM is on.")), mProp("ManagingResource", "string"),
				mProp("GuestNode", "string"), mProp("VCPUs", "uint32")},
			Methods: []wbem.Method{
				{Name: "Fence", Type: "uint32", Qualifiers: append([]wbem.Qualifier{mDesc("mgmtd: fences (power-cycles, powers off or on) the node through the cluster's fencing devices.")}, vendorReturn...),
					Parameters: []wbem.Parameter{in("Action", "uint16", wbem.ValueMap("2", "Reboot", "3", "Off", "4", "On")), jobOut()}},
			}},
		assoc(ClassParticipatingCS, "CIM_ParticipatingCS", "mgmtd: membership of a node in the cluster.",
			mRefKey("Antecedent", ClassComputerSystem), mRefKey("Dependent", ClassCluster), mProp("Votes", "uint32"), mProp("IsDC", "boolean")),
		{Name: ClassClusteringService, Superclass: "CIM_ClusteringService", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: Pacemaker, the cluster resource manager. Name is \"pacemaker\".")},
			Properties: []wbem.Property{mProp("PacemakerVersion", "string")}},
		assoc(ClassHostedClusterService, "CIM_HostedClusterService", "mgmtd: the cluster hosts its Pacemaker service.",
			mRefKey("Antecedent", ClassCluster, wbem.StringQualifier("Max", "1"), wbem.StringQualifier("Min", "1")),
			mRefKey("Dependent", ClassClusteringService, wbem.BoolQualifier("Weak"))),
		assoc(ClassHostedService, "CIM_HostedService", "mgmtd: the cluster hosts its resources and services; they are weak to the cluster, never to the node they run on.",
			mRefKey("Antecedent", ClassCluster, wbem.StringQualifier("Max", "1"), wbem.StringQualifier("Min", "1")),
			mRefKey("Dependent", "CIM_Service", wbem.BoolQualifier("Weak"))),
		{Name: ClassResource, Superclass: "CIM_Service", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: a Pacemaker resource. Weak to the cluster: SystemName is the cluster name and Name the resource id, so the path does not change when the resource moves.")},
			Properties: []wbem.Property{
				mProp("ResourceKind", "uint16", wbem.ValueMap("2", "Primitive", "3", "Group", "4", "Clone", "5", "Promotable Clone", "6", "Bundle")...),
				mProp("Agent", "string"), mProp("ResourceClass", "string"), mProp("ResourceProvider", "string"), mProp("ResourceType", "string"),
				mProp("ParentResource", "string"), mProp("TargetRole", "string"),
				mProp("Managed", "boolean"), mProp("Blocked", "boolean"), mProp("Failed", "boolean"), mProp("Orphaned", "boolean"),
				mProp("Disabled", "boolean"), mProp("FailCount", "uint32"), mArr("ActiveNodes", "string"), mArr("PromotedNodes", "string"),
				mProp("Address", "string")},
			Methods: []wbem.Method{
				{Name: "MoveTo", Type: "uint32", Qualifiers: append([]wbem.Qualifier{mDesc("mgmtd: moves the resource to a node (a location constraint, optionally with a lifetime); an empty node clears a previous move.")}, vendorReturn...),
					Parameters: []wbem.Parameter{in("DestinationNode", "string"), in("Lifetime", "datetime"), jobOut()}},
				{Name: "Cleanup", Type: "uint32", Qualifiers: append([]wbem.Qualifier{mDesc("mgmtd: clears the failure history of the resource, on one node or (empty) everywhere.")}, vendorReturn...),
					Parameters: []wbem.Parameter{in("Node", "string"), jobOut()}},
			}},
		{Name: ClassResourceGroup, Superclass: ClassResource, Qualifiers: []wbem.Qualifier{mDesc("mgmtd: a resource group; its members are its MGMTD_ServiceComponent parts.")}},
		{Name: ClassResourceClone, Superclass: ClassResource, Qualifiers: []wbem.Qualifier{mDesc("mgmtd: a clone or promotable clone.")},
			Properties: []wbem.Property{mProp("Promotable", "boolean"), mProp("GloballyUnique", "boolean")}},
		{Name: ClassResourceBundle, Superclass: ClassResource, Qualifiers: []wbem.Qualifier{mDesc("mgmtd: a bundle (container replicas).")},
			Properties: []wbem.Property{mProp("Replicas", "uint32")}},
		{Name: ClassFencingDevice, Superclass: ClassResource, Qualifiers: []wbem.Qualifier{mDesc("mgmtd: a fencing (stonith) device; the nodes it can fence are its MGMTD_ServiceAffectsElement elements.")}},
		assoc(ClassActiveOn, "CIM_Dependency", "mgmtd: a resource is active on a node (one instance per active resource instance; not a key of the resource).",
			mRefKey("Antecedent", ClassComputerSystem), mRefKey("Dependent", ClassResource),
			mProp("Role", "uint16", wbem.ValueMap("0", "Unknown", "2", "Started", "3", "Promoted", "4", "Unpromoted", "5", "Starting",
				"6", "Stopping", "7", "Promoting", "8", "Demoting", "9", "Migrating")...),
			mProp("Failed", "boolean"), mProp("Managed", "boolean"), mProp("PhysicalHost", "string")),
		aggregation(assoc(ClassServiceComponent, "CIM_ServiceComponent", "mgmtd: a group, clone or bundle contains a resource.",
			mRefKey("GroupComponent", ClassResource, wbem.BoolQualifier("Aggregate")), mRefKey("PartComponent", ClassResource),
			mProp("AssignedSequence", "uint16"))),
		assoc(ClassOrderDependency, "CIM_ServiceServiceDependency", "mgmtd: an order constraint; the Antecedent (first) must be started before the Dependent (then).",
			mRefKey("Antecedent", ClassResource), mRefKey("Dependent", ClassResource),
			mProp("ConstraintID", "string"), mProp("FirstAction", "string"), mProp("ThenAction", "string"),
			mProp("Kind", "uint16", wbem.ValueMap("2", "Mandatory", "3", "Optional", "4", "Serialize")...)),
		assoc(ClassHostedDependency, "CIM_HostedDependency", "mgmtd: a virtual machine is on a hypervisor host.",
			mRefKey("Antecedent", ClassComputerSystem, wbem.StringQualifier("Max", "1")), mRefKey("Dependent", ClassComputerSystem)),
		assoc(ClassAffectsElement, "CIM_ServiceAffectsElement", "mgmtd: a resource manages a VM (ElementEffects 5), or a fencing device fences a node (1 Other, \"Fences\").",
			mRefKey("AffectedElement", ClassComputerSystem), mRefKey("AffectingElement", ClassResource)),
		{Name: ClassMigrationService, Superclass: "CIM_VirtualSystemMigrationService", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: live migration of virtual machines managed by the cluster (moves their VirtualDomain resource).")}},
		{Name: ClassConcreteJob, Superclass: "CIM_ConcreteJob", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: an action task started through CIM. InstanceID is \"MGMTD:Job:\" and the task id.")},
			Properties: []wbem.Property{mProp("Action", "string"), mProp("Target", "string")}},
		{Name: ClassCapabilities, Superclass: "CIM_EnabledLogicalElementCapabilities", Qualifiers: []wbem.Qualifier{mDesc("mgmtd: the states RequestStateChange accepts for a kind of element.")}},
		assoc(ClassElementCapabilities, "CIM_ElementCapabilities", "mgmtd: an element's state-change capabilities.",
			mRefKey("ManagedElement", "CIM_ManagedElement", wbem.StringQualifier("Min", "1")), mRefKey("Capabilities", ClassCapabilities)),
		{Name: ClassSoftwareIdentity, Superclass: "CIM_SoftwareIdentity", Qualifiers: []wbem.Qualifier{mDesc("mgmtd: the versions of mgmtd, Pacemaker and Corosync.")}},
		assoc(ClassInstalledSoftware, "CIM_InstalledSoftwareIdentity", "mgmtd: software running the cluster.",
			mRefKey("System", ClassCluster), mRefKey("InstalledSoftware", ClassSoftwareIdentity)),
		{Name: ClassDRBDResource, Superclass: "CIM_RedundancySet", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "1.0.0"),
			mDesc("mgmtd: a DRBD resource: a block device replicated to the cluster nodes that hold a replica of it, which are its members (MGMTD_DRBDReplica). " +
				"Derived from CIM_RedundancySet because that is what DRBD provides: a set of elements that together keep the data redundant, " +
				"whose RedundancyStatus says whether they still do (Fully Redundant: every replica UpToDate and connected; Degraded Redundancy: " +
				"some replica is not, but more than one is UpToDate; Redundancy Lost: one UpToDate replica is left; Unknown: no DRBD source reports the resource). " +
				"TypeOfSet is N+1: one Primary, the others standing by. Not a CIM_StorageExtent: the device exists once per node, " +
				"while the replication, split brain and resync are properties of the set. InstanceID is \"MGMTD:DRBD:\" and the resource name.")},
			Properties: []wbem.Property{
				mProp("PrimaryNode", "string", mDesc("The node where the resource is Primary; empty when none is.")),
				mProp("InSync", "boolean"), mProp("SyncDescription", "string", mDesc("Whether the replicas are in sync, and why not, in words.")),
				mProp("SplitBrain", "boolean", mDesc("DRBD reported a split brain (its split-brain helper was called) that has not been resolved.")),
				mProp("ReportingNode", "string", mDesc("The node whose DRBD source reports the state; empty when only Pacemaker knows the resource.")),
				mProp("Role", "string", mDesc("The role on the reporting node, as DRBD names it.")),
				mProp("Suspended", "string", mDesc("Empty, or why I/O is suspended.")),
				mProp("Quorum", "boolean"), mProp("MayPromote", "boolean"), mProp("PromotionScore", "sint32"),
				mArr("Devices", "string", mDesc("The device of each volume (/dev/drbd<minor>).")),
				mProp("OutOfSyncKiB", "uint64", wbem.StringQualifier("PUnit", "byte * 2^10"), mDesc("What the reporting node still has to send its peers, summed over volumes and peers.")),
				mProp("ManagingResource", "string", mDesc("The Pacemaker promotable clone of the ocf:linbit:drbd resource that manages it.")),
				mArr("FencingConstraints", "string", mDesc("The constraints DRBD's fence-peer handler placed for the resource."))}},
		aggregation(assoc(ClassDRBDReplica, "CIM_MemberOfCollection", "mgmtd: a cluster node holds a replica of a DRBD resource, as Primary or Secondary.",
			mRefKey("Collection", ClassDRBDResource, wbem.BoolQualifier("Aggregate")), mRefKey("Member", ClassComputerSystem),
			mProp("Role", "uint16", wbem.ValueMap("0", "Unknown", "2", "Primary", "3", "Secondary")...),
			mProp("DiskState", "string", mDesc("The replica's worst disk state over its volumes, as DRBD names it (DUnknown for a peer the reporting node cannot reach).")),
			mProp("UpToDate", "boolean"), mProp("Connected", "boolean", mDesc("Whether the reporting node replicates to it (itself: always).")),
			mProp("Syncing", "boolean"), mProp("SyncPercent", "real64", wbem.StringQualifier("PUnit", "percent")),
			mProp("OutOfSyncKiB", "uint64", wbem.StringQualifier("PUnit", "byte * 2^10")),
			mProp("PacemakerRole", "string", mDesc("The role of the drbd clone's instance there (Promoted is DRBD Primary).")),
			mProp("PromotionScore", "string", mDesc("The master-<primitive> node attribute the drbd agent sets there.")),
			mProp("Local", "boolean", mDesc("The replica of the reporting node.")))),
	}
}

// indicationClasses are the classes of the indications mgmtd exports.
func indicationClasses() []*wbem.Class {
	ind := func(c *wbem.Class) *wbem.Class {
		c.Qualifiers = append(c.Qualifiers, wbem.BoolQualifier("Indication"))
		return c
	}
	return []*wbem.Class{
		ind(&wbem.Class{Name: "CIM_Indication", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract"), wbem.StringQualifier("Version", "2.41.0"),
			mDesc("CIM_Indication is the abstract root class for all notifications about changes in schema, objects and their data, and about events detected by providers and instrumentation.")},
			Properties: []wbem.Property{mProp("IndicationIdentifier", "string"), mArr("CorrelatedIndications", "string"),
				mProp("IndicationTime", "datetime"), mProp("PerceivedSeverity", "uint16", severityMap...), mProp("OtherSeverity", "string"),
				mProp("IndicationFilterName", "string"), mProp("SequenceContext", "string"), mProp("SequenceNumber", "sint64")}}),
		ind(&wbem.Class{Name: "CIM_InstIndication", Superclass: "CIM_Indication", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract")},
			Properties: []wbem.Property{{Name: "SourceInstance", Type: "string", Null: true, EmbeddedObject: "instance", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Required"), wbem.StringQualifier("EmbeddedObject", "TRUE")}},
				mProp("SourceInstanceModelPath", "string"), mProp("SourceInstanceHost", "string")}}),
		ind(&wbem.Class{Name: "CIM_InstModification", Superclass: "CIM_InstIndication",
			Properties: []wbem.Property{{Name: "PreviousInstance", Type: "string", Null: true, EmbeddedObject: "instance", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("EmbeddedObject", "TRUE")}}}}),
		ind(&wbem.Class{Name: "CIM_ProcessIndication", Superclass: "CIM_Indication", Qualifiers: []wbem.Qualifier{wbem.BoolQualifier("Abstract")}}),
		ind(&wbem.Class{Name: "CIM_AlertIndication", Superclass: "CIM_ProcessIndication",
			Properties: []wbem.Property{mProp("Description", "string"), mProp("AlertingManagedElement", "string"),
				mProp("AlertingElementFormat", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "CIMObjectPath")...),
				mProp("AlertType", "uint16", append([]wbem.Qualifier{wbem.BoolQualifier("Required")}, alertTypeMap...)...),
				mProp("OtherAlertType", "string"), mProp("ProbableCause", "uint16"), mProp("ProbableCauseDescription", "string"),
				mArr("RecommendedActions", "string"), mProp("EventID", "string"), mProp("EventTime", "datetime"),
				mProp("SystemCreationClassName", "string"), mProp("SystemName", "string"), mProp("ProviderName", "string"),
				mProp("OwningEntity", "string"), mProp("MessageID", "string"), mProp("Message", "string"), mArr("MessageArguments", "string")}}),
		ind(&wbem.Class{Name: ClassInstModification, Superclass: "CIM_InstModification", Qualifiers: []wbem.Qualifier{mDesc("mgmtd: a model object changed state.")},
			Properties: []wbem.Property{mProp("EventType", "string"), mProp("EventSequence", "uint64")}}),
		ind(&wbem.Class{Name: ClassAlertIndication, Superclass: "CIM_AlertIndication", Qualifiers: []wbem.Qualifier{mDesc("mgmtd: a failover, fencing or quorum event.")},
			Properties: []wbem.Property{mProp("EventType", "string"), mProp("EventSequence", "uint64"), mProp("ObjectKind", "string"),
				mProp("ObjectName", "string"), mProp("Node", "string"), mProp("FromState", "string"), mProp("ToState", "string")}}),
	}
}

// interopClasses are the interop namespace's classes after coreClasses:
// the object manager, namespaces, and the indication subscription classes
// (wbem.SubscriptionClasses).
func interopClasses() []*wbem.Class {
	return append([]*wbem.Class{
		{Name: "CIM_Namespace", Superclass: "CIM_ManagedElement", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("Namespace provides a domain (in other words, a container), in which the instances [of a class] are guaranteed to be unique per the KEY qualifier definitions.")},
			Properties: []wbem.Property{mKey("SystemCreationClassName", "string"), mKey("SystemName", "string"),
				mKey("ObjectManagerCreationClassName", "string"), mKey("ObjectManagerName", "string"),
				mKey("CreationClassName", "string"), mKey("Name", "string"),
				mProp("ClassInfo", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "CIM 1.0", "3", "CIM 2.0", "4", "CIM 2.1",
					"5", "CIM 2.2", "6", "CIM 2.3", "7", "CIM 2.4", "8", "CIM 2.5", "9", "CIM 2.6", "10", "CIM 2.7", "11", "CIM 2.8")...),
				mProp("ClassType", "uint16", wbem.ValueMap("0", "Unknown", "1", "Other", "2", "CIM")...), mProp("ClassTypeVersion", "string")}},
		{Name: "CIM_ObjectManager", Superclass: "CIM_Service", Qualifiers: []wbem.Qualifier{wbem.StringQualifier("Version", "2.41.0"),
			mDesc("A type of CIM_Service that defines the capabilities of the CIM Server in which this ObjectManager class resides.")},
			Properties: []wbem.Property{mProp("GatherStatisticalData", "boolean")}},
		{Name: ClassObjectManager, Superclass: "CIM_ObjectManager", Qualifiers: []wbem.Qualifier{mDesc("mgmtd's WBEM server.")}},
	}, wbem.SubscriptionClasses()...)
}

// newModelRepository returns the model namespace's classes.
func newModelRepository() (*wbem.Repository, error) {
	r := wbem.NewRepository()
	for _, set := range [][]*wbem.Class{coreClasses(), modelClasses(), indicationClasses()} {
		if err := r.Add(set...); err != nil {
			return nil, fmt.Errorf("model schema: %w", err)
		}
	}
	return r, nil
}

// newInteropRepository returns the interop namespace's classes (the
// references of CIM_ElementConformsToProfile into the model namespace are
// resolved with the model's repository).
func newInteropRepository() (*wbem.Repository, error) {
	r := wbem.NewRepository()
	for _, set := range [][]*wbem.Class{coreClasses(), interopClasses()} {
		if err := r.Add(set...); err != nil {
			return nil, fmt.Errorf("interop schema: %w", err)
		}
	}
	return r, nil
}
