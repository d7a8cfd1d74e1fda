"""Field technicians' tools: provision, test and retire terminals (enrolment, on-terminal
keys and mutual TLS come with the provisioning issue). Uses ``device``; ``device``
never imports this package."""
