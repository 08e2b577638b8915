import FieldAgent

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

exit(AgentCommand.main(CommandLine.arguments))
