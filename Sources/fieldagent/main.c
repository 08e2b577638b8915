// The agent's entry point, in C so that both builds (normal and Embedded Swift) take argv from the C runtime.
// Everything else is FieldAgent's (AgentCommand.swift).
extern int field_agent_main(int argc, char **argv);

int main(int argc, char **argv) { return field_agent_main(argc, argv); }
