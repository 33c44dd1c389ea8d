// Demo support (not product): a throw-away CA and the certificates the demo's processes
// need, made in process (node:crypto keys, node-forge for X.509) so the demo needs no
// openssl. Keys are 2048-bit RSA; everything expires after two days.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

const DAY = 24 * 3600 * 1000;

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { privatePem: privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey) };
}

function certificate({ subjectCn, issuer, keys, signer, extensions }) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 2 * DAY);
  cert.setSubject([{ name: 'commonName', value: subjectCn }]);
  cert.setIssuer(issuer ?? [{ name: 'commonName', value: subjectCn }]);
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return cert;
}

/**
 * Writes ca.crt, server.{crt,key} (CN ferry-coordinator, SAN localhost/127.0.0.1) and a
 * client certificate per name (CN = the name: the agent's node, or an API user) to `dir`.
 */
export function makeCertificates(dir, clientNames) {
  const caKeys = keyPair();
  const ca = certificate({ subjectCn: 'ferry-demo-ca', keys: caKeys, signer: caKeys.privateKey, extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }] });
  const write = (name, cert, keys) => {
    writeFileSync(join(dir, `${name}.crt`), forge.pki.certificateToPem(cert));
    writeFileSync(join(dir, `${name}.key`), keys.privatePem, { mode: 0o600 });
  };
  writeFileSync(join(dir, 'ca.crt'), forge.pki.certificateToPem(ca));
  const leaf = (name, cn, usage, altNames) => {
    const keys = keyPair();
    const extensions = [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }, { name: 'extKeyUsage', ...usage }];
    if (altNames) extensions.push({ name: 'subjectAltName', altNames });
    write(name, certificate({ subjectCn: cn, issuer: ca.subject.attributes, keys, signer: caKeys.privateKey, extensions }), keys);
  };
  leaf('server', 'ferry-coordinator', { serverAuth: true }, [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }]);
  for (const name of clientNames) leaf(`client-${name}`, name, { clientAuth: true });
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    client: (name) => ({ cert: join(dir, `client-${name}.crt`), key: join(dir, `client-${name}.key`) }),
  };
}
