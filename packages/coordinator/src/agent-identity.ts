/** Which AgentHub client certificates may speak for which node (`--agent-identity`). */
export const AGENT_IDENTITY_MODES = ['node-certificate', 'shared-certificate'] as const;
export type AgentIdentityMode = (typeof AGENT_IDENTITY_MODES)[number];

export function isAgentIdentityMode(value: string): value is AgentIdentityMode {
  return (AGENT_IDENTITY_MODES as readonly string[]).includes(value);
}

/**
 * node-certificate: the certificate must name the node in Hello. shared-certificate: a
 * certificate naming `sharedName` may also speak for any node (the deploy overlays issue one
 * certificate for the whole DaemonSet), so a stolen agent certificate can claim any node.
 */
export type AgentIdentity = { readonly mode: 'node-certificate' } | { readonly mode: 'shared-certificate'; readonly sharedName: string };
