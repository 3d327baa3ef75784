// Package wbem is a WBEM server: CIM operations over HTTP (DMTF DSP0200)
// with CIM-XML bodies (DSP0201, DTD DSP0203; codec in package
// wbem/cimxml), serving the classes and instances of a [Provider]. It
// knows nothing of the cluster: mgmtd's model is one provider of it
// (package cim), the in-memory [MemProvider] another, the way CoreDNS
// keeps its server apart from its plugins.
//
// Dependencies: wbem imports only its own subtree (wbem/cimxml) and the
// standard library. What it needs from the daemon it declares as hooks:
//
//   - [Provider] (and optionally [InstanceWriter]): the namespaces, their
//     class [Repository], lazy instance iterators, references and
//     extrinsic methods;
//   - [Authenticator]: turns an *http.Request into a [Principal] whose
//     Identity is the authenticator's own value (mgmtd's daemon puts its
//     *auth.Identity there, for the provider's authorization); there is no
//     default identity: a nil hook is a configuration error and a failing
//     hook a 401. Providers find the caller with [PrincipalFrom];
//   - [Auditor]: records each state-changing operation (InvokeMethod,
//     CreateInstance, DeleteInstance) before it runs and its outcome
//     after; without it, or when it fails, the operation is refused (fail
//     closed).
//
// The wire contract (DSP0200/DSP0201) the [Server] keeps so that providers
// stay simple:
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
//   - Output real clients can read (sblim-wbemcli, pywbem): see package
//     wbem/cimxml.
//
// Classes live in a [Repository] per namespace that resolves inheritance
// once, so GetClass returns the full class with inherited properties,
// qualifiers, methods and parameters. Results are streamed: enumerations
// are iterators from the provider to the encoder, and a pull enumeration
// context holds a suspended iterator, so memory does not grow with the
// result size.
//
// Indications (DSP1054, as pywbem's subscription manager uses it) come in
// three parts a provider composes: a [SubscriptionStore] keeps the
// CIM_IndicationFilter, CIM_ListenerDestinationCIMXML and
// CIM_IndicationSubscription instances a client creates in the interop
// namespace (validated, optionally persisted to a file); matching
// ([SubscriptionStore.Match], [Filter]) finds the enabled subscriptions
// whose filter query selects an indication; a [Delivery] posts
// ExportIndication requests to each listener in order, with sequence
// numbers, retries and a bounded queue. The provider decides which
// indications exist and when.
package wbem
