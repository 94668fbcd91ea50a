#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// C strings and arrays the post-fork child reads. Allocated before fork, freed after spawn returns; the child
/// works on its copy-on-write copy, so it never allocates.
final class CStringArena {
    private var releases: [() -> Void] = []

    func string(_ value: String) -> UnsafeMutablePointer<CChar> {
        let pointer = strdup(value)!
        releases.append { free(pointer) }
        return pointer
    }

    /// A NULL-terminated `char *[]`.
    func stringArray(_ values: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: values.count + 1)
        for (i, value) in values.enumerated() { array[i] = string(value) }
        array[values.count] = nil
        releases.append { array.deallocate() }
        return array
    }

    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: values.count)
        pointer.initialize(from: values, count: values.count)
        releases.append { pointer.deallocate() }
        return pointer
    }

    deinit {
        for release in releases { release() }
    }
}
