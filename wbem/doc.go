// Package cim is mgmtd's WBEM server: CIM operations over HTTP (DMTF
// DSP0200) with CIM-XML bodies (DSP0201, codec in package cimxml), serving
// a [Provider] of classes and instances.
//
// Dependencies: cim imports cimxml and the standard library. It will later
// import model, auth and audit (DESIGN.md); until the wiring plugs those in,
// it declares what it needs itself: a [Provider] (classes, instances,
// associations, methods), an [Authenticator] hook that turns an
// *http.Request into a [Principal] (no default identity: a nil hook is a
// configuration error and a failing hook is a 401), and an [Auditor] hook
// that records state-changing operations before they run (fail closed).
//
// The [Server] does the protocol work so providers stay simple:
//
//   - HTTP: POST to /cimom; CIMOperation/CIMMethod/CIMObject checked
//     (raw or percent-encoded, case-insensitive) against the body;
//     protocol errors answered 400/413/415/501 with a CIMError header;
//     a concurrency limit (503 beyond it); request size, XML depth,
//     element, attribute and string limits in the decoder; transport
//     timeouts in [Server.HTTPServer].
//   - Operations: GetInstance, EnumerateInstances(+Names),
//     Associators(+Names), References(+Names), GetClass,
//     EnumerateClasses(+Names), GetProperty, ExecQuery (a WQL / DMTF:CQL
//     subset), InvokeMethod on instances and classes, CreateInstance and
//     DeleteInstance (for providers implementing [InstanceWriter]), the
//     pull operations Open*/Pull*/CloseEnumeration with bounded, expiring
//     enumeration contexts; everything else is CIM_ERR_NOT_SUPPORTED.
//   - Semantics: DSP0200 defaults for omitted parameters, PropertyList,
//     case-insensitive namespace, class, property, method, parameter and
//     key names, instance paths normalized (key order, case, host ignored,
//     untyped wbemcli key values coerced by the class definition), untyped
//     method parameters coerced, CIM status codes as clients expect them
//     (an unknown namespace is CIM_ERR_INVALID_NAMESPACE).
//   - Classes live in a [Repository] per namespace that resolves
//     inheritance once, so GetClass returns the full class with inherited
//     properties, qualifiers, methods and parameters.
//
// Results are streamed: enumerations are iterators from the provider to
// the encoder, and a pull enumeration context holds a suspended iterator,
// so memory does not grow with the result size. [MemProvider] is a
// Provider over indexed in-memory instances, suitable for one model
// snapshot and for tests.
package wbem
