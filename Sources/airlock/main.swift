#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AirlockFront

exit(FrontEnd.main(CommandLine.arguments))
