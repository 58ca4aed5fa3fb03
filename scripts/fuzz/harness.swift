// The libFuzzer entry point scripts/fuzz.sh links against the instrumented libraries: one input at a time through
// the target BFFN_FUZZ_TARGET names (the targets live in BFFNFuzzTargets, which the tests replay too).
import BFFNFuzzTargets
#if canImport(Glibc)
import Glibc
#endif
let target: FuzzTarget = {
    let name = getenv("BFFN_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let t = FuzzTarget(rawValue: name) else { print("set BFFN_FUZZ_TARGET"); exit(2) }
    return t
}()
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
