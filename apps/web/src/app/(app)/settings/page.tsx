'use client';

import { MembersCard } from '../../../ui/settings/members.tsx';
import { TokensCard } from '../../../ui/settings/tokens.tsx';
import { PageHead } from '../../../ui/shell.tsx';

export default function SettingsPage() {
  return (
    <div className="page">
      <PageHead
        title="Settings"
        sub="Members of your organization, and the tokens that scripts and agents use."
      />
      <div className="stack">
        <MembersCard />
        <TokensCard />
      </div>
    </div>
  );
}
