import BFFNCore
import BFFNKernels
import Testing

/// The one storage type: its spelling parses back to itself in any case, its manifest fields read back, and its
/// group rule refuses what the loaders could not read.
@Suite("storage type")
struct StorageTypeTests {
    static let all: [StorageType] = [.f32, .f16, .bf16, .q8(group: nil), .q8(group: 32), .q8(group: 8),
                                     .q4(group: 32, asymmetric: true), .q4(group: 64, asymmetric: false), .q4(group: 16, asymmetric: true), .q3k, .q4k, .q5k, .q6k]

    @Test(arguments: all)
    func spellingRoundTripsInAnyCase(_ t: StorageType) throws {
        #expect(try StorageType(parsing: t.description) == t)
        #expect(try StorageType(parsing: t.description.uppercased()) == t)
    }

    @Test func bareSpellingsAndTheirDefaults() throws {
        #expect(try StorageType(parsing: "q8") == .q8(group: nil))
        #expect(try StorageType(parsing: "Q4") == .q4(group: 32, asymmetric: true))
        #expect(try StorageType(parsing: "q4/g64") == .q4(group: 64, asymmetric: true))
        #expect(StorageType.q8(group: nil).description == "q8/row" && StorageType.q4(group: 32, asymmetric: false).description == "q4/g32/sym")
        for bad in ["q3", "q4/g", "q4/g32/maybe", "q8/g32/sym", "bf16/g32", "", "q4/gx"] {
            #expect(throws: BFFNError.self, "\(bad)") { try StorageType(parsing: bad) }
        }
        // --group-size and --symmetric qualify the bare spellings; float types ignore them.
        #expect(try StorageType(parsing: "q4").with(group: 128, symmetric: true) == .q4(group: 128, asymmetric: false))
        #expect(StorageType.bf16.with(group: 32, symmetric: true) == .bf16)
    }

    @Test(arguments: all)
    func manifestFieldsReadBack(_ t: StorageType) throws {
        let resolved = try t.resolved(cols: 256, tensor: "w")
        let entry = JSONValue.object(resolved.manifestFields)
        #expect(try StorageType(manifest: entry, file: "f", field: "w", offset: 0) == resolved)
        #expect(resolved.rowBytes(cols: 256) == t.rowBytes(cols: 256))
    }

    /// One group rule: the spelling, `resolved` and the manifest reader (and `--group-size`, BFFNCommandLineTests)
    /// all accept exactly the multiples of 8 from 8 to 1048576.
    @Test(arguments: [-8, 0, 4, 8, 12, 24, 40, 128, 1000, 1 << 20, (1 << 20) + 8])
    func oneGroupRule(_ g: Int) throws {
        let expected = g >= 8 && g % 8 == 0 && g <= 1 << 20
        #expect(StorageType.isSupportedGroup(g) == expected)
        #expect(((try? StorageType(parsing: "q4/g\(g)")) != nil) == expected)
        #expect(((try? StorageType(parsing: "q8/g\(g)")) != nil) == expected)
        #expect(StorageType.q4(group: g, asymmetric: true).fits(cols: max(g, 8)) == expected)
        let manifest = JSONValue.object([("dtype", "Q4"), ("group", .integer(g)), ("asymmetric", true)])
        #expect(((try? StorageType(manifest: manifest, file: "f", field: "w", offset: 0)) != nil) == expected)
    }

    @Test func groupRulesNameTheTensor() throws {
        #expect(try StorageType.q8(group: nil).resolved(cols: 96, tensor: "w") == .q8(group: 96))
        #expect(!StorageType.q4(group: 32, asymmetric: true).fits(cols: 48))
        #expect(StorageType.q4(group: 16, asymmetric: true).fits(cols: 48))
        do {
            _ = try StorageType.q4(group: 64, asymmetric: true).resolved(cols: 96, tensor: "model.layers.0.mlp.down_proj")
            Issue.record("a group that does not divide the row was accepted")
        } catch let e as BFFNError {
            #expect(e.code == .unsupported && e.location.field == "model.layers.0.mlp.down_proj")
        }
        #expect(throws: BFFNError.self) {
            try StorageType(manifest: .object([("dtype", "Q4"), ("group", 12), ("asymmetric", true)]), file: "f", field: "w", offset: 9)
        }
    }
}
