import FieldAnalysis
import FieldBackends
import FieldBundle
import FieldModel
import FuzzSupport

// The observation layer: samples of captures (a CaptureScript: readable text, see CaptureScript.swift) go
// through the backend's agent-side hooks (cheap signals, derived paths), then into a timeline as
// `fieldctl analyze` builds it (the backend's interpreter turns each sample into observations), and the detectors
// run over the result. None of it may trap, whatever the captures say.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.input(data, size)
    let script = CaptureScript(bytes)
    let named = BackendRegistry.all.filter { $0.identifier == script.backend }
    for backend in named.isEmpty ? BackendRegistry.all : named {
        let header = BundleHeader(
            agent: "fuzz", backend: backend.identifier, osIdentity: [], deviceID: "fuzz", bootID: nil, wallNanos: 0,
            monoNanos: 0, intervalNanos: 1_000_000_000, procRoot: "/proc", sequence: 0, plan: backend.capturePlan)
        var timeline = TimelineBuilder()
        for (i, s) in script.samples.enumerated() {
            _ = backend.cheapSignals(s.files)
            _ = backend.derivedPaths(fromDeep: s.files)
            let sample = Sample(sequence: UInt64(i), wallNanos: s.wallNanos, monoNanos: UInt64(i), files: s.files)
            timeline.add(sample: sample, header: header)
        }
        _ = backend.makeInterpreter().events(inLogLines: script.logLines)
        timeline.finish()
        _ = Analyzer().analyze(Array(timeline.devices.values))
    }
    return 0
}
